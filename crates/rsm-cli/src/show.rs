//! `rsmctl info | topology | segments | stats`.

use anyhow::{Context, Result};
use std::path::Path;

fn ctx(socket: &Path) -> String {
    format!("no rsm agent answers on {} (start rsmd, or set RSM_SOCKET / --socket)", socket.display())
}

pub(crate) fn info(socket: &Path, json: bool) -> Result<()> {
    let st = rsm::admin::status(socket).map_err(anyhow::Error::from).with_context(|| ctx(socket))?;
    let mut ctls = Vec::new();
    for name in &st.controllers {
        let c = rsm::Controller::get_at(socket, Some(name)).with_context(|| format!("controller {name}"))?;
        ctls.push((name.clone(), c.attr()));
    }
    if json {
        let v = serde_json::json!({
            "node": st.node, "agent_pid": st.pid, "uptime_s": st.uptime_s, "socket": socket,
            "controllers": ctls.iter().map(|(n, a)| serde_json::json!({"name": n, "attr": a})).collect::<Vec<_>>(),
            "clients": st.clients, "exports": st.exports, "published": st.published, "imports": st.imports,
            "exported_bytes": st.exported_bytes,
        });
        println!("{v}");
        return Ok(());
    }
    println!("node {}  (agent pid {}, up {} s, socket {})", st.node, st.pid, st.uptime_s, socket.display());
    println!(
        "clients {}  exports {} ({} published, {} bytes)  imports {}",
        st.clients, st.exports, st.published, st.exported_bytes, st.imports
    );
    for (n, a) in ctls {
        println!("controller {n}");
        println!("  direct access sizes   {}", das(a.direct_access_sizes));
        println!("  atomic sizes          {}", das(a.atomic_sizes));
        println!("  page size             {}", a.page_size);
        println!("  max export segment    {}", bytes(a.max_export_segment_size));
        println!("  total export          {}", bytes(a.tot_export_segment_size));
        println!("  max export segments   {}", a.max_export_segments);
        println!(
            "  max import map        {}",
            if a.max_import_map_size == 0 { "cannot map".into() } else { bytes(a.max_import_map_size) }
        );
        println!("  total import map      {}", bytes(a.tot_import_map_size));
        println!("  max import segments   {}", a.max_import_segments);
    }
    Ok(())
}

fn das(bits: u32) -> String {
    let v: Vec<&str> =
        [(1, "8"), (2, "16"), (4, "32"), (8, "64")].iter().filter(|(b, _)| bits & b != 0).map(|(_, n)| *n).collect();
    if v.is_empty() { "none".into() } else { format!("{} bit", v.join("/")) }
}

pub(crate) fn bytes(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{b} B") } else { format!("{v:.1} {}", U[i]) }
}

pub(crate) fn topology(socket: &Path, json: bool) -> Result<()> {
    let t = rsm::topology_at(socket).map_err(anyhow::Error::from).with_context(|| ctx(socket))?;
    if json {
        println!("{}", serde_json::to_string(&t)?);
        return Ok(());
    }
    println!("local node {}  controllers {}", t.local_node, t.controllers.len());
    for c in &t.controllers {
        println!("  {} (hwaddr {:#x}), {} remote controllers", c.name, c.hwaddr, c.remotes.len());
        for r in &c.remotes {
            let state = match r.state {
                1 => "down",
                2 => "up",
                3 => "active",
                4 => "going down",
                _ => "?",
            };
            println!("    node {:<3} {:<10} hwaddr {:#x}  {}", r.node, r.name, r.hwaddr, state);
        }
    }
    if t.controllers.is_empty() {
        println!("  (loopback only: this node reaches no other node)");
    }
    Ok(())
}

pub(crate) fn segments(socket: &Path, json: bool) -> Result<()> {
    let segs = rsm::admin::segments(socket).map_err(anyhow::Error::from).with_context(|| ctx(socket))?;
    if json {
        println!("{}", serde_json::to_string(&segs)?);
        return Ok(());
    }
    println!(
        "{:<12} {:<10} {:>10} {:>8} {:>6} {:>6} {:>5} {:>9}  acl",
        "segment id", "controller", "size", "pid", "uid", "gid", "mode", "importers"
    );
    for s in &segs {
        let id = s.segment_id.map_or("-".to_string(), |i| format!("{i:#x}"));
        let acl = if s.segment_id.is_none() {
            "(not published)".to_string()
        } else if s.acl.is_empty() {
            "all nodes".to_string()
        } else {
            s.acl.iter().map(|a| format!("{}:{:o}", a.node, a.perm)).collect::<Vec<_>>().join(" ")
        };
        println!(
            "{:<12} {:<10} {:>10} {:>8} {:>6} {:>6} {:>5o} {:>9}  {}",
            id,
            s.controller,
            bytes(s.size),
            s.creator_pid,
            s.uid,
            s.gid,
            s.mode,
            s.importers,
            acl
        );
    }
    if segs.is_empty() {
        println!("(no export segments)");
    }
    Ok(())
}

pub(crate) fn stats(socket: &Path, json: bool) -> Result<()> {
    let st = rsm::admin::status(socket).map_err(anyhow::Error::from).with_context(|| ctx(socket))?;
    if json {
        println!("{}", serde_json::to_string(&st)?);
        return Ok(());
    }
    let rows: [(&str, u64); 12] = [
        ("clients", st.clients),
        ("exports", st.exports),
        ("published", st.published),
        ("memory held by the agent", st.memory_held),
        ("imports", st.imports),
        ("exported bytes", st.exported_bytes),
        ("connects", st.connects),
        ("connects refused", st.connects_refused),
        ("revocations", st.revocations),
        ("signals delivered", st.signals),
        ("clients died", st.clients_died),
        ("uptime s", st.uptime_s),
    ];
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:<w$} {v}");
    }
    Ok(())
}
