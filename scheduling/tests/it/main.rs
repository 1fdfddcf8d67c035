//! The state machine driven by simulated workers: random graphs, random deaths, random
//! clients; every run it orders is checked against what the workers really hold.

mod sim;
mod units;
