// expect: layer 1 syntax.parse
// A hostile strategy file: does not parse.
fn broken( {
