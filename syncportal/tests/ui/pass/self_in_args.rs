//! `Self` in an argument or output type means the async type on the twin.

#![deny(warnings)]

#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    x: i32,
}

#[syncportal::facade]
impl Point {
    pub async fn plus(&self, other: &Self) -> i32 {
        self.x + other.x
    }

    pub async fn merge(self, others: Vec<Self>) -> Point {
        Point {
            x: self.x + others.iter().map(|p| p.x).sum::<i32>(),
        }
    }

    pub async fn maybe(&self) -> Option<Self> {
        Some(self.clone())
    }

    pub async fn both(&self) -> Result<(Self, u8), syncportal::Error> {
        Ok((self.clone(), 1))
    }
}

fn main() -> Result<(), syncportal::Error> {
    let point = SyncPoint::from_async(Point { x: 1 });
    assert_eq!(point.plus(&Point { x: 2 })?, 3);
    let some: Option<Point> = point.maybe()?;
    assert_eq!(some, Some(Point { x: 1 }));
    let (again, one): (Point, u8) = point.both()?;
    assert_eq!((again.x, one), (1, 1));
    let merged: Point = point.merge(vec![Point { x: 2 }, Point { x: 3 }])?;
    assert_eq!(merged.x, 6);
    Ok(())
}
