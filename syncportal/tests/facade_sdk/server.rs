//! A tiny line-protocol key-value server on plain std threads, so it runs independently of any
//! async runtime the SDK under test uses.
//!
//! One request line gets one reply line:
//!
//! | request           | reply                                              |
//! |-------------------|----------------------------------------------------|
//! | `GET key`         | `VALUE v` or `NIL`                                 |
//! | `SET key value`   | `OK` (the value is the rest of the line)           |
//! | `INCR key`        | `INT n`, or `ERR ...` when the value is no integer |
//! | `NAME name`       | `OK`; names this connection                        |
//! | `WHOAMI`          | `NAME name` or `NIL`                               |
//! | `SLOW ms`         | `OK`, after sleeping `ms` milliseconds             |
//! | `SUB topic`       | `OK subscribed`, then `EVENT topic n` for n = 1, 2, ... until the client goes away |
//! | `QUIT`            | `BYE`, then the server closes the connection       |
//!
//! Anything else gets `ERR message`. What happens on each connection is reported on a channel,
//! so tests can wait for it instead of sleeping.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Something the server saw, tagged with the connection's number (1, 2, ... in accept order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A client connected.
    Connected(u64),
    /// A `SLOW` request started sleeping.
    SlowStarted(u64),
    /// A `SUB topic` request was answered; events follow.
    Subscribed(u64, String),
    /// Writing an event failed: the subscriber went away.
    SubscriberGone(u64, String),
    /// The client sent `QUIT` and got `BYE`.
    Quit(u64),
    /// The connection ended without `QUIT` (end of stream or a reset).
    Disconnected(u64),
}

struct State {
    data: Mutex<HashMap<String, String>>,
    connections: AtomicU64,
    stopping: AtomicBool,
    seen: Mutex<mpsc::Sender<Seen>>,
}

impl State {
    fn report(&self, seen: Seen) {
        // The receiver is gone only once the test is over.
        let _ = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(seen);
    }
}

/// A running server; dropping it stops accepting connections.
pub(crate) struct Server {
    addr: SocketAddr,
    state: Arc<State>,
    seen: mpsc::Receiver<Seen>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts a server with an empty store on `127.0.0.1:0`.
    pub(crate) fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test server");
        let addr = listener.local_addr().expect("the server's address");
        let (tx, seen) = mpsc::channel();
        let state = Arc::new(State {
            data: Mutex::default(),
            connections: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            seen: Mutex::new(tx),
        });
        let acceptor = {
            let state = Arc::clone(&state);
            thread::Builder::new()
                .name("sdk-test-server".to_owned())
                .spawn(move || accept(&listener, &state))
                .expect("spawn the server's accept thread")
        };
        Self {
            addr,
            state,
            seen,
            acceptor: Some(acceptor),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections the server has accepted.
    pub(crate) fn connections(&self) -> u64 {
        self.state.connections.load(SeqCst)
    }

    /// Waits until the server has reported everything in `expected`, in any order, skipping
    /// other reports; panics after 5 s.
    pub(crate) fn expect(&self, expected: &[Seen]) {
        let mut missing = expected.to_vec();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(seen) = self.seen.recv_timeout(left) else {
                panic!("the server never reported {missing:?}");
            };
            missing.retain(|wanted| *wanted != seen);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.stopping.store(true, SeqCst);
        // Wake the accept loop so it sees the flag; it may already have stopped.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(listener: &TcpListener, state: &Arc<State>) {
    for stream in listener.incoming() {
        if state.stopping.load(SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let id = state.connections.fetch_add(1, SeqCst) + 1;
        state.report(Seen::Connected(id));
        let state = Arc::clone(state);
        thread::Builder::new()
            .name(format!("sdk-test-server-conn-{id}"))
            .spawn(move || serve(stream, id, &state))
            .expect("spawn a server connection thread");
    }
}

/// What to do after answering one request.
enum Next {
    Reply(String),
    Subscribe(String),
    Quit,
}

fn serve(stream: TcpStream, id: u64, state: &State) {
    // Replies are whole lines written at once; do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return state.report(Seen::Disconnected(id));
    };
    let mut name: Option<String> = None;
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        let next = handle(&line, id, &mut name, state);
        let reply = match next {
            Next::Reply(reply) => reply,
            Next::Subscribe(topic) => return publish(&mut writer, id, &topic, state),
            Next::Quit => {
                if send(&mut writer, "BYE").is_ok() {
                    state.report(Seen::Quit(id));
                    return;
                }
                break;
            }
        };
        if send(&mut writer, &reply).is_err() {
            break;
        }
    }
    state.report(Seen::Disconnected(id));
}

/// Writes one line with a single write, so it leaves in one segment.
fn send(writer: &mut TcpStream, line: &str) -> io::Result<()> {
    writer.write_all(format!("{line}\n").as_bytes())
}

fn handle(line: &str, id: u64, name: &mut Option<String>, state: &State) -> Next {
    let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
    let data = || state.data.lock().unwrap_or_else(PoisonError::into_inner);
    let reply = match (command, rest) {
        ("GET", key) if !key.is_empty() => match data().get(key) {
            Some(value) => format!("VALUE {value}"),
            None => "NIL".to_owned(),
        },
        ("SET", args) => match args.split_once(' ') {
            Some((key, value)) if !key.is_empty() => {
                data().insert(key.to_owned(), value.to_owned());
                "OK".to_owned()
            }
            _ => "ERR usage: SET key value".to_owned(),
        },
        ("INCR", key) if !key.is_empty() => {
            let mut data = data();
            let current = data.get(key).map_or(Ok(0), |value| value.parse::<i64>());
            match current {
                Ok(current) => {
                    let next = current + 1;
                    data.insert(key.to_owned(), next.to_string());
                    format!("INT {next}")
                }
                Err(_) => format!("ERR value of {key} is not an integer"),
            }
        }
        ("NAME", new) if !new.is_empty() => {
            *name = Some(new.to_owned());
            "OK".to_owned()
        }
        ("WHOAMI", "") => match name {
            Some(name) => format!("NAME {name}"),
            None => "NIL".to_owned(),
        },
        ("SLOW", ms) => match ms.parse::<u64>() {
            Ok(ms) => {
                state.report(Seen::SlowStarted(id));
                // The one sleep in this test suite: the server is slow on purpose.
                thread::sleep(Duration::from_millis(ms));
                "OK".to_owned()
            }
            Err(_) => "ERR usage: SLOW milliseconds".to_owned(),
        },
        ("SUB", topic) if !topic.is_empty() => return Next::Subscribe(topic.to_owned()),
        ("QUIT", "") => return Next::Quit,
        _ => format!("ERR unknown command: {line}"),
    };
    Next::Reply(reply)
}

/// Answers a subscription, then pushes events until the subscriber goes away. TCP flow control
/// paces the loop: once the client stops reading, the write blocks.
fn publish(writer: &mut TcpStream, id: u64, topic: &str, state: &State) {
    if send(writer, "OK subscribed").is_err() {
        return state.report(Seen::SubscriberGone(id, topic.to_owned()));
    }
    state.report(Seen::Subscribed(id, topic.to_owned()));
    for n in 1_u64.. {
        if send(writer, &format!("EVENT {topic} {n}")).is_err() {
            break;
        }
    }
    state.report(Seen::SubscriberGone(id, topic.to_owned()));
}
