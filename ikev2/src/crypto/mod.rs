//! IKEv2 crypto suite: D-H, prf+, key derivation, SK payload protection, AUTH.
