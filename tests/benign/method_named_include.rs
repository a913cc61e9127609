// benign: a method named include.
pub struct Filter { pub floor: f64 }
impl Filter {
    pub fn include(&self, x: f64) -> bool { x > self.floor }
    pub fn both(&self, a: f64, b: f64) -> bool { self.include(a) && Self::include(self, b) }
}
