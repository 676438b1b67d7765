//! Property tests of the request parser: arbitrary input never panics,
//! and valid requests survive encode/parse unchanged.

use nvesec::ctl::proto::{
    encode_request, fuzz_parse, parse_request, Command, EventKind, Request, SaFilter, COMMANDS,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[a-z0-9\\-_\"\\\\ é]{0,12}")
}

fn filter() -> impl Strategy<Value = SaFilter> {
    (name(), any::<Option<u32>>(), name(), any::<Option<u32>>()).prop_map(
        |(ike, ike_id, child, child_id)| SaFilter {
            ike,
            ike_id,
            child,
            child_id,
        },
    )
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::LoadAll),
        Just(Command::Stats),
        Just(Command::Version),
        filter().prop_map(Command::ListSas),
        (name(), name(), any::<Option<u32>>()).prop_map(|(child, ike, timeout)| {
            Command::Initiate {
                child,
                ike,
                timeout,
            }
        }),
        (filter(), any::<bool>(), any::<Option<u32>>()).prop_map(|(target, force, timeout)| {
            Command::Terminate {
                target,
                force,
                timeout,
            }
        }),
        (filter(), any::<bool>()).prop_map(|(target, reauth)| Command::Rekey { target, reauth }),
        any::<bool>().prop_map(|reset| Command::Counters { reset }),
        (-1i8..=4).prop_map(|level| Command::Log { level }),
        proptest::collection::vec(
            prop_oneof![
                Just(EventKind::IkeUpdown),
                Just(EventKind::Expire),
                Just(EventKind::Acquire)
            ],
            1..3
        )
        .prop_map(|events| Command::Subscribe { events }),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        fuzz_parse(&data);
    }

    #[test]
    fn mutated_requests_never_panic(
        cmd in proptest::sample::select(COMMANDS),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut line = format!(r#"{{"id":1,"command":"{cmd}","child":"a","ike_id":2,"level":1}}"#).into_bytes();
        let i = pos.index(line.len());
        line[i] = byte;
        fuzz_parse(&line);
    }

    #[test]
    fn valid_requests_round_trip(id in any::<u64>(), command in command()) {
        let req = Request { id, command };
        let line = encode_request(&req);
        prop_assert_eq!(line.last(), Some(&b'\n'));
        prop_assert!(!line[..line.len() - 1].contains(&b'\n'));
        match req.command.validate() {
            Ok(()) => prop_assert_eq!(parse_request(&line[..line.len() - 1]), Ok(req)),
            Err(_) => prop_assert!(parse_request(&line[..line.len() - 1]).is_err()),
        }
    }
}
