//! Where the three nodes live: three network namespaces made by the soak itself, each pair
//! joined by its own veth pair (so one link can be cut while both nodes still reach the
//! third), node addresses on `lo` with a /32 route per peer; or, without root, three
//! addresses 127.0.0.1-3 in the host's namespace (no link cuts). Everything made is removed
//! when the [`Lab`] is dropped, whatever happened.

use std::process::Command;

/// Number of nodes.
pub(crate) const NODES: usize = 3;

use rsm_testkit::netns::ip;

/// The nodes' network.
pub(crate) struct Lab {
    /// Namespace of each node (None: the host's, loopback mode).
    ns: Option<[String; NODES]>,
    addrs: [String; NODES],
    port: u16,
    made_links: Vec<String>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for l in &self.made_links {
            // Only if it is still in the host's namespace (made, not yet moved).
            let _ = ip(&["link", "del", l]);
        }
        self.remove();
    }
}

/// Name of the namespace of node `k` (0-based) of the soak run by process `pid`.
pub(crate) fn ns_name(pid: u32, k: usize) -> String {
    format!("rsmsoak{pid}n{}", k + 1)
}

/// Name of node `a`'s end of the link between nodes `a` and `b` (0-based); at most 15 bytes.
fn dev(pid: u32, a: usize, b: usize) -> String {
    format!("rsk{}{}{}", pid % 10_000_000, a + 1, b + 1)
}

impl Lab {
    /// Three namespaces with a link between each pair.
    pub(crate) fn netns() -> Result<Lab, String> {
        let pid = std::process::id();
        let base = format!("10.{}.{}", 100 + (pid >> 8) % 100, pid % 256);
        let ns: [String; NODES] = std::array::from_fn(|k| ns_name(pid, k));
        let mut lab = Lab {
            ns: None,
            addrs: std::array::from_fn(|k| format!("{base}.{}", k + 1)),
            port: 7300,
            made_links: Vec::new(),
        };
        let mut made = Vec::new();
        for n in &ns {
            let r = ip(&["netns", "add", n]);
            if r.is_ok() {
                made.push(n.clone());
            }
            if let Err(e) = r {
                for m in &made {
                    let _ = ip(&["netns", "del", m]);
                }
                return Err(e);
            }
        }
        lab.ns = Some(ns.clone());
        // From here on, Drop removes the namespaces (and the links inside them).
        for (k, n) in ns.iter().enumerate() {
            ip(&["-n", n, "link", "set", "lo", "up"])?;
            ip(&["-n", n, "addr", "add", &format!("{}/32", lab.addrs[k]), "dev", "lo"])?;
        }
        for a in 0..NODES {
            for b in a + 1..NODES {
                let (da, db) = (dev(pid, a, b), dev(pid, b, a));
                lab.made_links.push(da.clone());
                ip(&["link", "add", &da, "type", "veth", "peer", "name", &db])?;
                ip(&["link", "set", &da, "netns", &ns[a]])?;
                ip(&["link", "set", &db, "netns", &ns[b]])?;
                lab.made_links.pop();
                lab.restore(a, b)?;
            }
        }
        Ok(lab)
    }

    /// Three agents on 127.0.0.1-3 in this namespace; no link can be cut.
    pub(crate) fn loopback() -> Lab {
        let pid = std::process::id();
        Lab {
            ns: None,
            addrs: std::array::from_fn(|k| format!("127.0.0.{}", k + 1)),
            port: 20_000 + (pid % 20_000) as u16,
            made_links: Vec::new(),
        }
    }

    /// Removes the namespaces (and the links in them); idempotent. Processes still inside
    /// keep their namespace until they exit.
    pub(crate) fn remove(&self) {
        if let Some(ns) = &self.ns {
            for n in ns {
                if std::path::Path::new("/run/netns").join(n).exists() {
                    let _ = ip(&["netns", "del", n]);
                }
            }
        }
    }

    /// Whether links can be cut (namespaces).
    pub(crate) fn can_cut(&self) -> bool {
        self.ns.is_some()
    }

    /// The `tcp0` address of node `k` (0-based).
    pub(crate) fn addr(&self, k: usize) -> String {
        format!("{}:{}", self.addrs[k], self.port)
    }

    /// The command running `program` on node `k` (in its namespace).
    pub(crate) fn command(&self, k: usize, program: &std::path::Path) -> Command {
        match &self.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns[k]]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// Cuts the link between nodes `a` and `b` (`ip link set ... down` on `a`'s end: both
    /// ends lose their carrier).
    pub(crate) fn cut(&self, a: usize, b: usize) -> Result<(), String> {
        let ns = self.ns.as_ref().ok_or("no namespaces")?;
        ip(&["-n", &ns[a], "link", "set", &dev(std::process::id(), a, b), "down"])
    }

    /// Brings the link between `a` and `b` up and (re)installs the routes over it.
    pub(crate) fn restore(&self, a: usize, b: usize) -> Result<(), String> {
        let ns = self.ns.as_ref().ok_or("no namespaces")?;
        let pid = std::process::id();
        for (x, y) in [(a, b), (b, a)] {
            ip(&["-n", &ns[x], "link", "set", &dev(pid, x, y), "up"])?;
        }
        for (x, y) in [(a, b), (b, a)] {
            let to = format!("{}/32", self.addrs[y]);
            ip(&["-n", &ns[x], "route", "replace", &to, "dev", &dev(pid, x, y), "src", &self.addrs[x]])?;
        }
        Ok(())
    }
}
