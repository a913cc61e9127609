// benign: an arXiv link.
/// From https://arxiv.org/abs/2401.01234v2 (q-fin.TR), section 3.2.
pub fn paper_year() -> u32 { 2024 }
