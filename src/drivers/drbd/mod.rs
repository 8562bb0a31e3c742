//! DRBD: argv builders for the `drbdadm` verbs xenflux uses, the state vocabularies of DRBD 8.4
//! and DRBD 9, and (in the submodules) parsers for what the tools print: `/proc/drbd`
//! ([`proc_drbd`]), `drbdsetup status --json` and `drbdadm status` ([`status`](mod@status)),
//! `drbdsetup events2 --now` ([`events2`]) and `drbdadm dump-xml` ([`dump_xml`](mod@dump_xml)).
//!
//! The three DRBD-9-style observations (status JSON, status text, events2) all parse into the
//! same [`ResourceStatus`]; `/proc/drbd` keeps the 8.4 shape and [`ConnState::split`] maps it.
//! Nothing here runs a command or reads `/proc`.

pub mod dump_xml;
pub mod events2;
pub mod meta;
pub mod proc_drbd;
pub mod show;
pub mod status;

use super::{argv, vocab_enum, Argv};

vocab_enum! {
    /// DRBD 8.4 connection state (`cs:` in `/proc/drbd`, `drbdadm cstate`), which mixes the
    /// network link and the replication state that DRBD 9 reports separately.
    pub enum ConnState fallback Unknown {
        StandAlone = "StandAlone",
        Disconnecting = "Disconnecting",
        Unconnected = "Unconnected",
        Timeout = "Timeout",
        BrokenPipe = "BrokenPipe",
        NetworkFailure = "NetworkFailure",
        ProtocolError = "ProtocolError",
        TearDown = "TearDown",
        WFConnection = "WFConnection",
        WFReportParams = "WFReportParams",
        Connected = "Connected",
        StartingSyncS = "StartingSyncS",
        StartingSyncT = "StartingSyncT",
        WFBitMapS = "WFBitMapS",
        WFBitMapT = "WFBitMapT",
        WFSyncUUID = "WFSyncUUID",
        SyncSource = "SyncSource",
        SyncTarget = "SyncTarget",
        PausedSyncS = "PausedSyncS",
        PausedSyncT = "PausedSyncT",
        VerifyS = "VerifyS",
        VerifyT = "VerifyT",
        Ahead = "Ahead",
        Behind = "Behind",
        /// A minor listed in `/proc/drbd` without a configured resource.
        Unconfigured = "Unconfigured",
    }
}

vocab_enum! {
    /// DRBD 9 connection state (`connection:` in events2, `connection-state` in status JSON).
    /// DRBD 8.4's `WFConnection` shows up here as `Connecting`.
    pub enum ConnectionState fallback Unknown {
        StandAlone = "StandAlone",
        Disconnecting = "Disconnecting",
        Unconnected = "Unconnected",
        Timeout = "Timeout",
        BrokenPipe = "BrokenPipe",
        NetworkFailure = "NetworkFailure",
        ProtocolError = "ProtocolError",
        TearDown = "TearDown",
        Connecting = "Connecting",
        Connected = "Connected",
    }
}

vocab_enum! {
    /// DRBD 9 replication state of one peer device (`replication:`, `replication-state`).
    pub enum ReplState fallback Unknown {
        Off = "Off",
        Established = "Established",
        StartingSyncS = "StartingSyncS",
        StartingSyncT = "StartingSyncT",
        WFBitMapS = "WFBitMapS",
        WFBitMapT = "WFBitMapT",
        WFSyncUUID = "WFSyncUUID",
        SyncSource = "SyncSource",
        SyncTarget = "SyncTarget",
        PausedSyncS = "PausedSyncS",
        PausedSyncT = "PausedSyncT",
        VerifyS = "VerifyS",
        VerifyT = "VerifyT",
        Ahead = "Ahead",
        Behind = "Behind",
    }
}

vocab_enum! {
    /// Disk state of a local or peer device (`ds:`, `disk:`, `peer-disk:`).
    pub enum DiskState fallback Unknown {
        Diskless = "Diskless",
        Attaching = "Attaching",
        Detaching = "Detaching",
        Failed = "Failed",
        Negotiating = "Negotiating",
        Inconsistent = "Inconsistent",
        Outdated = "Outdated",
        /// The peer's disk state is not known (no connection).
        DUnknown = "DUnknown",
        Consistent = "Consistent",
        UpToDate = "UpToDate",
    }
}

vocab_enum! {
    /// Role of a resource. DRBD itself prints `Unknown` for a peer it is not connected to, so
    /// the fallback for unrecognised words is `Other`.
    pub enum Role fallback Other {
        Primary = "Primary",
        Secondary = "Secondary",
        /// DRBD's own word: the peer's role is not known (not connected).
        Unknown = "Unknown",
    }
}

impl ConnState {
    /// The DRBD 9 view of an 8.4 connection state: (connection, replication). `None` for
    /// `Unconfigured` and unrecognised words, which have no DRBD 9 equivalent.
    pub fn split(&self) -> Option<(ConnectionState, ReplState)> {
        use ConnectionState as C;
        use ReplState as R;
        Some(match self {
            ConnState::StandAlone => (C::StandAlone, R::Off),
            ConnState::Disconnecting => (C::Disconnecting, R::Off),
            ConnState::Unconnected => (C::Unconnected, R::Off),
            ConnState::Timeout => (C::Timeout, R::Off),
            ConnState::BrokenPipe => (C::BrokenPipe, R::Off),
            ConnState::NetworkFailure => (C::NetworkFailure, R::Off),
            ConnState::ProtocolError => (C::ProtocolError, R::Off),
            ConnState::TearDown => (C::TearDown, R::Off),
            ConnState::WFConnection | ConnState::WFReportParams => (C::Connecting, R::Off),
            ConnState::Connected => (C::Connected, R::Established),
            ConnState::StartingSyncS => (C::Connected, R::StartingSyncS),
            ConnState::StartingSyncT => (C::Connected, R::StartingSyncT),
            ConnState::WFBitMapS => (C::Connected, R::WFBitMapS),
            ConnState::WFBitMapT => (C::Connected, R::WFBitMapT),
            ConnState::WFSyncUUID => (C::Connected, R::WFSyncUUID),
            ConnState::SyncSource => (C::Connected, R::SyncSource),
            ConnState::SyncTarget => (C::Connected, R::SyncTarget),
            ConnState::PausedSyncS => (C::Connected, R::PausedSyncS),
            ConnState::PausedSyncT => (C::Connected, R::PausedSyncT),
            ConnState::VerifyS => (C::Connected, R::VerifyS),
            ConnState::VerifyT => (C::Connected, R::VerifyT),
            ConnState::Ahead => (C::Connected, R::Ahead),
            ConnState::Behind => (C::Connected, R::Behind),
            ConnState::Unconfigured | ConnState::Unknown(_) => return None,
        })
    }
}

/// State of one resource as DRBD 9 reports it (and as drbd-utils 9 reports an 8.4 kernel).
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceStatus {
    pub name: String,
    pub role: Role,
    /// `suspended:` when the source reports it.
    pub suspended: Option<bool>,
    pub devices: Vec<DeviceStatus>,
    /// One per peer. Empty when the source printed no peer at all (`drbdadm status` of a
    /// StandAlone resource prints no peer block).
    pub connections: Vec<ConnectionStatus>,
}

/// A local volume of a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceStatus {
    pub volume: u32,
    /// `None` when the source does not say (`drbdadm status` without `--verbose`).
    pub minor: Option<u32>,
    pub disk: DiskState,
}

/// The connection to one peer.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionStatus {
    /// The peer's name (`conn-name`, or the host name). `None` when not printed: events2 of a
    /// StandAlone 8.4 resource drops `conn-name`.
    pub peer: Option<String>,
    pub peer_node_id: Option<u32>,
    pub state: ConnectionState,
    pub peer_role: Role,
    pub peer_devices: Vec<PeerDeviceStatus>,
}

/// One volume as seen over one connection.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerDeviceStatus {
    pub volume: u32,
    pub replication: ReplState,
    pub peer_disk: DiskState,
    /// Resync progress in percent (`done:` / `percent-in-sync`) when the source gives it.
    pub done_percent: Option<f64>,
}

impl ResourceStatus {
    /// The local device of volume `volume`.
    pub fn device(&self, volume: u32) -> Option<&DeviceStatus> {
        self.devices.iter().find(|d| d.volume == volume)
    }
}

fn drbdadm(words: &[&str]) -> Argv {
    let mut a = argv(["drbdadm"]);
    a.extend(argv(words.iter().copied()));
    a
}

/// `drbdadm -- --force create-md RES`: everything after `--` goes to drbdmeta, and `--force`
/// makes it write without the interactive "type yes" confirmation it asks for when it finds
/// data or old meta-data. Only for a backing device this plan created or proved blank.
pub fn create_md(res: &str) -> Argv {
    drbdadm(&["--", "--force", "create-md", res])
}

/// `drbdadm up RES`.
pub fn up(res: &str) -> Argv {
    drbdadm(&["up", res])
}

/// `drbdadm down RES`.
pub fn down(res: &str) -> Argv {
    drbdadm(&["down", res])
}

/// `drbdadm primary RES`.
pub fn primary(res: &str) -> Argv {
    drbdadm(&["primary", res])
}

/// `drbdadm primary --force RES`: the initial promotion of a brand-new pair (both Inconsistent).
pub fn primary_force(res: &str) -> Argv {
    drbdadm(&["primary", "--force", res])
}

/// `drbdadm secondary RES`.
pub fn secondary(res: &str) -> Argv {
    drbdadm(&["secondary", res])
}

/// `drbdadm adjust RES`: apply the `.res` file to the running resource.
pub fn adjust(res: &str) -> Argv {
    drbdadm(&["adjust", res])
}

/// `drbdadm resize RES`: grow to the new backing size (both sides Connected and UpToDate).
pub fn resize(res: &str) -> Argv {
    drbdadm(&["resize", res])
}

/// `drbdadm connect RES`.
pub fn connect(res: &str) -> Argv {
    drbdadm(&["connect", res])
}

/// `drbdadm connect --discard-my-data RES`: the split-brain victim's side of a manual recovery.
pub fn connect_discard_my_data(res: &str) -> Argv {
    drbdadm(&["connect", "--discard-my-data", res])
}

/// `drbdadm disconnect RES`.
pub fn disconnect(res: &str) -> Argv {
    drbdadm(&["disconnect", res])
}

/// `drbdadm net-options --allow-two-primaries=yes|no RES` (live, for a migration window).
pub fn net_options_allow_two_primaries(res: &str, allow: bool) -> Argv {
    let opt = if allow {
        "--allow-two-primaries=yes"
    } else {
        "--allow-two-primaries=no"
    };
    drbdadm(&["net-options", opt, res])
}

/// `drbdadm [-c CONFIG] dump-xml`.
pub fn dump_xml(config: Option<&str>) -> Argv {
    match config {
        Some(c) => drbdadm(&["-c", c, "dump-xml"]),
        None => drbdadm(&["dump-xml"]),
    }
}

/// `drbdadm status [RES]`.
pub fn status(res: Option<&str>) -> Argv {
    match res {
        Some(r) => drbdadm(&["status", r]),
        None => drbdadm(&["status"]),
    }
}

/// `drbdsetup status --json` (DRBD 9 kernels).
pub fn drbdsetup_status_json() -> Argv {
    argv(["drbdsetup", "status", "--json"])
}

/// `drbdsetup events2 --now`.
pub fn events2_now() -> Argv {
    argv(["drbdsetup", "events2", "--now"])
}

/// `cat /sys/block/drbdMINOR/size`: the device's size in 512-byte sectors.
pub fn cat_sysfs_size(minor: u32) -> Argv {
    argv(["cat".to_string(), format!("/sys/block/drbd{minor}/size")])
}

/// `cat /proc/drbd` (DRBD 8.4 kernels).
pub fn cat_proc_drbd() -> Argv {
    argv(["cat", "/proc/drbd"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_round_trip() {
        assert_eq!(ConnState::parse("WFConnection"), ConnState::WFConnection);
        assert_eq!(
            ConnState::parse("Bogus"),
            ConnState::Unknown("Bogus".into())
        );
        assert_eq!(DiskState::parse("DUnknown").as_str(), "DUnknown");
        assert_eq!(Role::parse("Unknown"), Role::Unknown);
        assert_eq!(Role::parse("Primaryish"), Role::Other("Primaryish".into()));
        assert_eq!(ReplState::parse("Established").to_string(), "Established");
        assert_eq!(
            ConnectionState::parse("Connecting"),
            ConnectionState::Connecting
        );
    }

    #[test]
    fn conn_state_split() {
        assert_eq!(
            ConnState::WFConnection.split(),
            Some((ConnectionState::Connecting, ReplState::Off))
        );
        assert_eq!(
            ConnState::SyncSource.split(),
            Some((ConnectionState::Connected, ReplState::SyncSource))
        );
        assert_eq!(
            ConnState::StandAlone.split(),
            Some((ConnectionState::StandAlone, ReplState::Off))
        );
        assert_eq!(ConnState::Unconfigured.split(), None);
    }

    #[test]
    fn builders() {
        assert_eq!(
            create_md("dns").join(" "),
            "drbdadm -- --force create-md dns"
        );
        assert_eq!(up("dns").join(" "), "drbdadm up dns");
        assert_eq!(down("dns").join(" "), "drbdadm down dns");
        assert_eq!(primary("dns").join(" "), "drbdadm primary dns");
        assert_eq!(
            primary_force("dns").join(" "),
            "drbdadm primary --force dns"
        );
        assert_eq!(secondary("dns").join(" "), "drbdadm secondary dns");
        assert_eq!(adjust("dns").join(" "), "drbdadm adjust dns");
        assert_eq!(resize("dns").join(" "), "drbdadm resize dns");
        assert_eq!(connect("dns").join(" "), "drbdadm connect dns");
        assert_eq!(
            connect_discard_my_data("dns").join(" "),
            "drbdadm connect --discard-my-data dns"
        );
        assert_eq!(disconnect("dns").join(" "), "drbdadm disconnect dns");
        assert_eq!(
            net_options_allow_two_primaries("dns", true).join(" "),
            "drbdadm net-options --allow-two-primaries=yes dns"
        );
        assert_eq!(
            net_options_allow_two_primaries("dns", false).join(" "),
            "drbdadm net-options --allow-two-primaries=no dns"
        );
        assert_eq!(dump_xml(None).join(" "), "drbdadm dump-xml");
        assert_eq!(
            dump_xml(Some("/tmp/x.conf")).join(" "),
            "drbdadm -c /tmp/x.conf dump-xml"
        );
        assert_eq!(status(None).join(" "), "drbdadm status");
        assert_eq!(status(Some("dns")).join(" "), "drbdadm status dns");
        assert_eq!(drbdsetup_status_json().join(" "), "drbdsetup status --json");
        assert_eq!(events2_now().join(" "), "drbdsetup events2 --now");
        assert_eq!(cat_proc_drbd().join(" "), "cat /proc/drbd");
    }
}
