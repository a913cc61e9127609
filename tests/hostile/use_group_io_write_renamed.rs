// expect: layer 2 security.module
// A hostile strategy file: std::io renamed inside a group.
use std::{io::Write as W, collections::HashMap};
fn f(_: &dyn W, _: HashMap<u8, u8>) {}
