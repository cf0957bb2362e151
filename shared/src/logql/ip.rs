//! `ip("...")` filters: whether a label, or any address in a line, is a
//! given IP, inside a CIDR prefix, or inside a range, IPv4 or IPv6, as
//! Loki's `ip.go` finds them (an address is a run of its characters where
//! a digit and a dot, or hex digits and a colon, begin it).

use std::net::IpAddr;

/// What an `ip()` argument names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum IpMatch {
    One(IpAddr),
    Prefix(IpAddr, u8),
    Range(IpAddr, IpAddr),
}

impl IpMatch {
    /// `192.168.0.1`, `192.168.0.0/16`, or `192.168.0.1-192.168.0.9`.
    pub(crate) fn parse(pattern: &str) -> Result<IpMatch, String> {
        let bad = || format!("ip: invalid pattern: {pattern:?}");
        if let Ok(ip) = pattern.parse::<IpAddr>() {
            return Ok(IpMatch::One(ip));
        }
        if let Some((addr, bits)) = pattern.split_once('/') {
            let ip: IpAddr = addr.parse().map_err(|_| bad())?;
            let bits: u8 = bits.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(bad());
            }
            return Ok(IpMatch::Prefix(ip, bits));
        }
        if let Some((a, b)) = pattern.split_once('-') {
            let (a, b): (IpAddr, IpAddr) = (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            );
            if a.is_ipv4() != b.is_ipv4() || bits(a) > bits(b) {
                return Err(bad());
            }
            return Ok(IpMatch::Range(a, b));
        }
        Err(bad())
    }

    /// Whether `ip` is what this names.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match *self {
            IpMatch::One(a) => a == ip,
            IpMatch::Prefix(net, n) => {
                if net.is_ipv4() != ip.is_ipv4() {
                    return false;
                }
                let width = if ip.is_ipv4() { 32 } else { 128 };
                let shift = width - n as u32;
                let mask = |v: u128| if shift >= 128 { 0 } else { v >> shift };
                mask(bits(net)) == mask(bits(ip))
            }
            IpMatch::Range(a, b) => {
                a.is_ipv4() == ip.is_ipv4() && (bits(a)..=bits(b)).contains(&bits(ip))
            }
        }
    }

    /// Whether any address in `text` is what this names.
    pub(crate) fn in_text(&self, text: &str) -> bool {
        let b = text.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let mut i = 0;
        while i < b.len() {
            let v4 = i + 3 < b.len()
                && at(i).is_ascii_digit()
                && (at(i + 1) == b'.' || at(i + 2) == b'.' || at(i + 3) == b'.');
            let charset: &dyn Fn(u8) -> bool = if v4 {
                &|c: u8| c.is_ascii_digit() || c == b'.'
            } else if v6_hint([at(i), at(i + 1), at(i + 2), at(i + 3), at(i + 4)]) {
                &|c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.'
            } else {
                i += 1;
                continue;
            };
            let len = b[i..].iter().take_while(|c| charset(**c)).count();
            if let Ok(ip) = text[i..i + len].parse::<IpAddr>()
                && self.contains(ip)
            {
                return true;
            }
            i += len.max(1);
        }
        false
    }
}

fn v6_hint(p: [u8; 5]) -> bool {
    let h = |c: u8| c.is_ascii_hexdigit();
    (p[0] == b':' && p[1] == b':' && h(p[2]))
        || (h(p[0]) && p[1] == b':')
        || (h(p[0]) && h(p[1]) && p[2] == b':')
        || (h(p[0]) && h(p[1]) && h(p[2]) && p[3] == b':')
        || (h(p[0]) && h(p[1]) && h(p[2]) && h(p[3]) && p[4] == b':')
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = IpMatch::parse("192.168.4.5/16").unwrap();
        assert!(p.contains("192.168.200.1".parse().unwrap()));
        assert!(!p.contains("192.169.0.1".parse().unwrap()));
        let r = IpMatch::parse("192.168.4.5-192.168.4.20").unwrap();
        assert!(
            r.contains("192.168.4.7".parse().unwrap())
                && !r.contains("192.168.4.21".parse().unwrap())
        );
        let v6 = IpMatch::parse("2001:db8::1-2001:db8::8").unwrap();
        assert!(v6.contains("2001:db8::3".parse().unwrap()));
        assert!(IpMatch::parse("nope").is_err());
        assert!(IpMatch::parse("10.0.0.9-10.0.0.1").is_err());
        assert!(IpMatch::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn addresses_in_lines() {
        let p = IpMatch::parse("192.168.4.5/16").unwrap();
        assert!(p.in_text("client=192.168.10.3 status=200"));
        assert!(!p.in_text("client=10.1.2.3 version 1.2.3"));
        let one = IpMatch::parse("2001:db8::1").unwrap();
        assert!(one.in_text("from [2001:db8::1]:443"));
    }
}
