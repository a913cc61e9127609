// benign: matches!.
pub fn active(d: Direction) -> bool { matches!(d, Direction::Long | Direction::Short) }
