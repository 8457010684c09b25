//! The built-in RTMP server: a real, minimal server on the core's encoder
//! (handshake, connect/createStream/publish/play/deleteStream with the replies
//! a real server sends, window acknowledgements), with fault options for tests.
