// expect: layer 2 security.module
// A hostile strategy file: use fs group.
use std::{collections::HashMap, fs};
fn f(_: HashMap<u8, u8>) {}
