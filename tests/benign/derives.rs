// benign: derives.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Window { pub len: usize }
