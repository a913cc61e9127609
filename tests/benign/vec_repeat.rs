// benign: vec! in both forms.
pub fn buffers() -> (Vec<f64>, Vec<u8>) { (vec![0.0; 64], vec![1, 2, 3]) }
