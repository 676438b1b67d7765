//! nvesec: the IKE daemon (`nvesecd`) and its control CLI (`nvesecctl`).
#![forbid(unsafe_code)]
