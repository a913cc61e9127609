// benign: a byte table that is data.
pub const TABLE: [u8; 16] = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 0, 1, 1, 2];
