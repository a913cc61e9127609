// expect: layer 2 security.secret
// A hostile strategy file: a Google API key.
const G: &str = "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe";
