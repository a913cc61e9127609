// expect: layer 2 security.module
// A hostile strategy file: use nested process.
use std::{io::{self}, process::Command};
