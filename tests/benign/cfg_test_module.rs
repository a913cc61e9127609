// benign: a test module.
#[cfg(test)]
mod tests {
    #[test]
    fn halves() { assert_eq!(4.0_f64 / 2.0, 2.0); }
}
