//! `hivebt ctl`: the remote command line for a running daemon.
