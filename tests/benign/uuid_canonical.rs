// benign: a canonical UUID.
/// Its opportunity.
pub const OPPORTUNITY: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";
