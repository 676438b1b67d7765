//! Entry points shared by the cargo-fuzz targets (`ikev2/fuzz/`) and the property tests, so
//! both exercise exactly the same code. They panic only when an invariant of the codec breaks.

use super::enums::PayloadType;
use super::message::{encode_inner, parse_inner, Message};
use super::natt::{classify_4500, Port4500};
use super::payloads::{sk_ranges, strip_padding, Reassembler, Reassembly};

/// Parses `data` every way the engine does; whatever parses must re-encode and parse back to
/// the same value.
pub fn fuzz_parse(data: &[u8]) {
    let datagram = match classify_4500(data) {
        Port4500::Ike(ike) => ike,
        _ => data,
    };
    for d in [data, datagram] {
        if let Ok(msg) = Message::parse(d) {
            let bytes = msg.to_bytes().expect("a parsed message re-encodes");
            assert_eq!(bytes.len(), d.len(), "re-encoding keeps the length");
            assert_eq!(Message::parse(&bytes).as_ref(), Ok(&msg));
            let _ = super::rules::check_outer(&msg);
        }
        if let Ok(r) = sk_ranges(d, 8, 16) {
            assert!(r.aad.end == r.iv.start && r.iv.end == r.ciphertext.start);
            assert!(r.ciphertext.end == r.icv.start && r.icv.end == d.len());
        }
    }
    if let Some((&first, rest)) = data.split_first() {
        if let Ok(inner) = parse_inner(PayloadType(first), rest) {
            let (ty, bytes) = encode_inner(&inner).expect("parsed inner chain re-encodes");
            assert_eq!(parse_inner(ty, &bytes).as_ref(), Ok(&inner));
            let _ =
                super::rules::check_payloads(super::enums::ExchangeType::IKE_AUTH, false, &inner);
        }
    }
    if let Ok(body) = strip_padding(data) {
        assert!(body.len() < data.len());
    }
}

/// Feeds `data` to a [`Reassembler`] as a sequence of records
/// `message id (1) | number (1) | total (1) | len (1) | plaintext (len)`; checks the memory cap.
pub fn fuzz_reassemble(data: &[u8]) {
    const MAX: usize = 2048;
    let mut re = Reassembler::new(MAX);
    let mut rest = data;
    while let [id, number, total, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        let out = re.insert(
            u32::from(*id),
            u16::from(*number),
            u16::from(*total),
            PayloadType::NOTIFY,
            chunk,
        );
        assert!(re.buffered() <= MAX);
        if let Ok(Reassembly::Complete { inner, .. }) = out {
            assert!(inner.len() <= MAX);
        }
    }
}
