// benign: methods named env and asm.
pub struct Ctx;
impl Ctx {
    pub fn env(&self) -> f64 { 1.0 }
    pub fn asm(&self) -> f64 { 2.0 }
    pub fn file(&self) -> f64 { self.env() + self.asm() }
}
