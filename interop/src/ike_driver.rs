//! A small UDP driver around the ikev2 engine, used to test interop with strongSwan before and besides nvesecd.
