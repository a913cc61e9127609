// expect: layer 2 security.secret
// A hostile strategy file: a Stripe live key.
const S: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc0123";
