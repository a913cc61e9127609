// expect: layer 2 security.secret
// A hostile strategy file: slack webhook.
const HOOK: &str = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
