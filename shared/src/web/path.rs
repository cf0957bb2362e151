//! Paths: how a request path is split, decoded, matched against a route
//! template and turned into validated parameters, and the path-shaped values
//! routes carry (where a sandbox is, which log a read names, which process a
//! capture is about).
//!
//! A template is written as spin.toml writes a route: literal segments,
//! `:name` for one segment, and a final `...` for the rest of the path
//! (possibly empty). Matching decodes each segment once; every parameter is
//! validated by its name ([`validate_param`]), so no route can take an id
//! that is a traversal, a separator or a control byte, and no handler
//! decodes a path again. Empty segments are ignored (`/a//b/` is `/a/b`).

use super::problem::Problem;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// The longest id or file name accepted (a common file-system limit).
pub const MAX_NAME_BYTES: usize = 255;

/// The agent route prefix, under which every sandbox is read:
/// `/system/v1/agent/{agent}/logs/v2/task/frameworks/...`.
pub const AGENT: &str = "/system/v1/agent";

/// Path segments, as a client sends them, that no route accepts as an id or
/// name: traversals, separators, control bytes, bytes that are not UTF-8.
/// The one table of them: the unit tests of `routes` and the end-to-end suite
/// (`tests/tests/hostile.rs`) both put each in every name position of every
/// route (with one longer than [`MAX_NAME_BYTES`] besides).
#[cfg(any(test, feature = "fuzzing"))]
pub const HOSTILE_SEGMENTS: [&str; 12] = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2e",
    "..%2f..%2fetc",
    "a%2Fb",
    "%2Fetc%2Fpasswd",
    "a%5Cb",
    "a\\b",
    "a%00b",
    "%ff",
    "a%0Ab",
];

/// A request path split once into segments (empty ones dropped), each with
/// its percent-decoded text (`None`: not UTF-8 once decoded).
pub struct Path<'a> {
    raw: &'a str,
    segments: Vec<Segment<'a>>,
}

struct Segment<'a> {
    /// Where it starts in the raw path.
    start: usize,
    raw: &'a str,
    decoded: Option<String>,
}

impl<'a> Path<'a> {
    /// Splits `raw` (still percent-encoded, no query) into its segments.
    pub fn new(raw: &'a str) -> Self {
        let mut segments = Vec::new();
        let mut start = 0;
        for s in raw.split('/') {
            if !s.is_empty() {
                let decoded = percent_decode_str(s).decode_utf8().ok();
                segments.push(Segment {
                    start,
                    raw: s,
                    decoded: decoded.map(|c| c.into_owned()),
                });
            }
            start += s.len() + 1;
        }
        Path { raw, segments }
    }

    /// The path as received, still percent-encoded.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether some segment is not UTF-8 once decoded.
    pub fn has_undecodable(&self) -> bool {
        self.segments.iter().any(|s| s.decoded.is_none())
    }
}

/// How specific a template is where it matched, segment by segment: as Spin
/// (routefinder) orders routes, a literal beats a parameter beats the rest.
pub type Specificity = Vec<u8>;

/// One template segment.
enum Part<'t> {
    Literal(&'t str),
    Param(&'t str),
    Rest,
}

fn parts(template: &str) -> impl Iterator<Item = Part<'_>> {
    template
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "..." => Part::Rest,
            s => s.strip_prefix(':').map_or(Part::Literal(s), Part::Param),
        })
}

/// The parameters a template captured, decoded and validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    named: Vec<(&'static str, String)>,
    /// What a final `...` matched, raw (percent-encoded), without its leading
    /// `/`; `None` when the template has no `...`.
    pub rest: Option<String>,
    /// The whole path as received.
    pub path: String,
}

impl Params {
    /// The value of `:name`. A template without it is a bug the route
    /// tables' tests catch; here it is an internal error, never a panic.
    pub fn get(&self, name: &str) -> Result<String, Problem> {
        self.named
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| Problem::internal(format!("route template without :{name}")))
    }

    /// `:name` if the template has it.
    pub fn opt(&self, name: &str) -> Option<String> {
        self.named
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// Every `:name` with its value, in template order.
    pub fn named(&self) -> &[(&'static str, String)] {
        &self.named
    }
}

/// Whether `template` matches `path` by shape alone (no parameter is
/// validated): what decides which family a path belongs to.
pub fn shape_matches(template: &str, path: &Path) -> bool {
    let mut segs = path.segments.iter();
    for part in parts(template) {
        match (part, segs.next()) {
            (Part::Rest, _) => return true,
            (Part::Literal(l), Some(s)) if s.decoded.as_deref() == Some(l) => {}
            (Part::Param(_), Some(_)) => {}
            _ => return false,
        }
    }
    segs.next().is_none()
}

/// Matches `template` (a `'static` route table entry) against `path`:
/// `None` if the shape differs, else its specificity and the parameters, or
/// the 400 of the first parameter that does not validate.
pub fn capture(
    template: &'static str,
    path: &Path,
) -> Option<(Specificity, Result<Params, Problem>)> {
    let mut segs = path.segments.iter();
    let mut rank = Vec::new();
    let mut named = Vec::new();
    let mut rest = None;
    let mut bad = None;
    for part in parts(template) {
        match (part, segs.next()) {
            (Part::Rest, next) => {
                rank.push(2);
                rest = Some(next.map_or(String::new(), |s| path.raw[s.start..].to_owned()));
                break;
            }
            (Part::Literal(l), Some(s)) if s.decoded.as_deref() == Some(l) => rank.push(0),
            (Part::Param(name), Some(s)) => {
                rank.push(1);
                match &s.decoded {
                    Some(value) => match validate_param(name, value) {
                        Ok(()) => named.push((name, value.clone())),
                        Err(p) => bad = bad.or(Some(p)),
                    },
                    None => {
                        bad = bad.or_else(|| {
                            Some(Problem::bad_param(
                                name,
                                format!("{:?} is not valid UTF-8 once decoded", header_safe(s.raw)),
                            ))
                        })
                    }
                }
            }
            _ => return None,
        }
    }
    if rest.is_none() && segs.next().is_some() {
        return None;
    }
    let params = match bad {
        Some(p) => Err(p),
        None => Ok(Params {
            named,
            rest,
            path: path.raw.to_owned(),
        }),
    };
    Some((rank, params))
}

/// Checks one path parameter by its name: group ids are ObjectIds, a
/// process is a pid or a GUID, a Loki label name is an identifier, and every
/// other parameter is a name ([`validate_name`]).
pub fn validate_param(name: &str, value: &str) -> Result<(), Problem> {
    match name {
        "group_id" => validate_group(value),
        "process" => Process::parse(value).map(drop),
        "name" => validate_label(value),
        // A discovery query is matched against task ids and names.
        "task" => validate_name("task_id", value),
        _ => validate_name(name, value),
    }
}

/// A Loki label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn validate_label(name: &str) -> Result<(), Problem> {
    let mut b = name.bytes();
    let ok = b
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if ok {
        return Ok(());
    }
    Err(Problem::bad_param(
        "name",
        format!("{:?} is not a label name", header_safe(name)),
    ))
}

/// A MongoDB group (project) id: 24 hexadecimal digits, an ObjectId.
fn validate_group(group: &str) -> Result<(), Problem> {
    if group.len() == 24 && group.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    Err(Problem::bad_param(
        "group_id",
        format!(
            "{:?} is not a group id: 24 hexadecimal digits, like 5f0c8a2be4b0a1d2c3e4f5a6",
            header_safe(group)
        ),
    ))
}

/// Checks a task id, file name or similar for use as one path component:
/// not empty, at most 255 bytes, no `/`, `\`, NUL or other control
/// characters, and not `.` or `..`.
pub fn validate_name(what: &str, name: &str) -> Result<(), Problem> {
    let bad = |why: &str| Problem::bad_param(what, format!("invalid {what} {name:?}: {why}"));
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Problem::bad_param(
            what,
            format!("invalid {what}: longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    if name == "." || name == ".." {
        return Err(bad("relative path components are not names"));
    }
    if name.contains(['/', '\\']) {
        return Err(bad("it contains a path separator"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("it contains a control character"));
    }
    Ok(())
}

/// A request's path or query as it may be echoed in a `Location` or `Link`
/// header: hosts pass raw UTF-8 in URIs through, but header values are
/// ASCII, so non-ASCII (and control) bytes are percent-encoded. Decoding
/// gives the same text back, so the target is unchanged.
pub fn header_safe(raw: &str) -> String {
    utf8_percent_encode(raw, CONTROLS).to_string()
}

/// Characters escaped in one path segment of a `Location`.
pub const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Appends `segments` to `path`, each percent-encoded as one path segment.
pub fn push(path: &mut String, segments: &[&str]) {
    for s in segments {
        path.push('/');
        path.extend(utf8_percent_encode(s, SEGMENT));
    }
}

/// Where a task's sandbox is on the agent routes:
/// `/system/v1/agent/{agent}/logs/v2/task/frameworks/{fw}/executors/{ex}/runs/{container}[/tasks/{task}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPath {
    /// The Mesos agent; [`AGENT_UNKNOWN`] until looked up, on the agent's own spelling.
    pub agent_id: String,
    /// The framework that launched the task.
    pub framework_id: String,
    /// The executor: the task id for a command task.
    pub executor_id: String,
    /// The run's container (`runs/{container}`), as the task registered it.
    pub container_id: String,
    /// Present for pod tasks.
    pub task_id: Option<String>,
}

impl AgentPath {
    /// The sandbox an agent route's parameters name; the agent id is
    /// [`AGENT_UNKNOWN`] on the agent's own spelling, which has none.
    pub fn from_params(p: &Params) -> Result<Self, Problem> {
        Ok(AgentPath {
            agent_id: p
                .opt("agent_id")
                .unwrap_or_else(|| AGENT_UNKNOWN.to_owned()),
            framework_id: p.get("framework_id")?,
            executor_id: p.get("executor_id")?,
            container_id: p.get("container_id")?,
            task_id: p.opt("task_id"),
        })
    }
}

/// The agent id of a sandbox named in the agent's own spelling, before the
/// handler looks it up: a segment no real id equals (ids cannot hold `/`,
/// and this one holds a NUL).
pub const AGENT_UNKNOWN: &str = "\0agent";

/// A log a read route names: what `dump` reads and `tail` follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadTarget {
    /// `/component[/{unit}]`: journal entries, of one unit if named.
    Journal {
        /// The unit (`/component/{unit}`); `None`: every unit.
        unit: Option<String>,
    },
    /// `.../runs/{c}[/tasks/{t}]/{file}`: a sandbox file.
    File {
        /// The sandbox, from the agent route.
        run: AgentPath,
        /// The file's name in it.
        file: String,
    },
}

impl ReadTarget {
    /// The journal (of `:component`, if the template has it).
    pub fn journal(p: &Params) -> Result<Self, Problem> {
        Ok(ReadTarget::Journal {
            unit: p.opt("component"),
        })
    }

    /// The sandbox file `:filename` of an agent route.
    pub fn file(p: &Params) -> Result<Self, Problem> {
        Ok(ReadTarget::File {
            run: AgentPath::from_params(p)?,
            file: p.get("filename")?,
        })
    }
}

/// The process a dotnet-monitor capture is about, as `/logs/{pid}` or
/// `/logs/{uid}` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Process {
    /// An operating-system process id: journald's `_PID`.
    Pid(u32),
    /// A runtime instance id, as 32 lower-case hex digits (the form journald
    /// writes `_SYSTEMD_INVOCATION_ID` in).
    Uid(String),
}

impl Process {
    /// An integer is a pid; a GUID (any case, with or without dashes or
    /// braces) a uid; anything else a 400.
    pub fn parse(segment: &str) -> Result<Process, Problem> {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            return segment.parse().map(Process::Pid).map_err(|_| {
                Problem::bad_param("pid", format!("{segment:?} is not a process id"))
            });
        }
        Process::guid(segment).map(Process::Uid).ok_or_else(|| {
            Problem::bad_param(
                "pid",
                format!(
                    "{:?} is neither a process id (an integer) nor a runtime instance id (a GUID)",
                    header_safe(segment)
                ),
            )
        })
    }

    /// `s` as 32 lower-case hex digits, if it is a GUID in one of .NET's
    /// textual forms (`N`, `D`, `B`).
    pub fn guid(s: &str) -> Option<String> {
        let s = s
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(s);
        let hex: String = match s.len() {
            32 => s.to_owned(),
            36 => {
                let dashes = [8, 13, 18, 23];
                let ok = s
                    .char_indices()
                    .all(|(i, c)| dashes.contains(&i) == (c == '-'));
                if !ok {
                    return None;
                }
                s.replace('-', "")
            }
            _ => return None,
        };
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then(|| hex.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_segments_and_ignores_empty_ones() {
        let path = Path::new("/a/b//x%20y/z/");
        let (rank, params) = capture("/a/b/:name2/:z", &path).unwrap();
        assert_eq!(rank, vec![0, 0, 1, 1]);
        let params = params.unwrap();
        assert_eq!(params.get("name2").unwrap(), "x y");
        assert!(capture("/a/bc/...", &path).is_none());
        assert!(
            capture("/a/b", &path).is_none(),
            "more segments than the template"
        );
        let bad = capture("/a/:id", &Path::new("/a/%ff")).unwrap().1;
        assert_eq!(bad.unwrap_err().status, http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_rest_is_raw_and_may_be_empty() {
        let rest = |p: &str| capture("/ui/...", &Path::new(p)).unwrap().1.unwrap().rest;
        assert_eq!(rest("/ui/a%2Fb/c").as_deref(), Some("a%2Fb/c"));
        assert_eq!(rest("/ui/").as_deref(), Some(""));
        assert_eq!(rest("/ui").as_deref(), Some(""));
        assert!(shape_matches("/k8s/v1/...", &Path::new("/k8s/v1")));
        assert!(!shape_matches("/k8s/v1/...", &Path::new("/k8s/v2")));
    }

    #[test]
    fn echoed_uris_are_ascii() {
        assert_eq!(header_safe("/a/é?x=ü&y=%20"), "/a/%C3%A9?x=%C3%BC&y=%20");
        assert_eq!(header_safe("/plain?q=1"), "/plain?q=1");
    }

    #[test]
    fn rejects_hostile_names() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", &"x".repeat(256)] {
            assert!(validate_name("file", bad).is_err(), "{bad:?}");
        }
        validate_name("file", "stdout.log-1").unwrap();
        validate_name("file", &"x".repeat(255)).unwrap();
    }

    #[test]
    fn a_process_is_a_pid_or_a_guid() {
        assert_eq!(Process::parse("4242"), Ok(Process::Pid(4242)));
        for form in [
            "1d2c3b4a-5f6e-4a8b-9c0d-e1f2a3b4c5d6",
            "1D2C3B4A5F6E4A8B9C0DE1F2A3B4C5D6",
            "{1d2c3b4a-5f6e-4a8b-9c0d-e1f2a3b4c5d6}",
        ] {
            assert_eq!(
                Process::guid(form).as_deref(),
                Some("1d2c3b4a5f6e4a8b9c0de1f2a3b4c5d6")
            );
        }
        for bad in [
            "abc",
            "12a",
            "99999999999",
            "1d2c3b4a-5f6e4a8b-9c0d-e1f2a3b4c5d6x",
            "-1",
        ] {
            let p = Process::parse(bad).unwrap_err();
            assert_eq!(p.extra["parameter"].as_str(), Some("pid"), "{bad}");
        }
    }
}
