//! report.html in a real browser: headless Chromium (Debian's `chromium`, which `.ci/run`
//! installs) opens the report of grafana-2019 and of target-2019 at a tenth of its size, with
//! no network, and must render it without a Content-Security-Policy violation or any other
//! console error (so the page's one script, allowed by its hash, ran); the DOM it built must
//! hold the verdict, the causal chain with each step linked into the events view, the timeline
//! with the scenario's changes and faults, a chart per series with the faults marked, and the
//! events view's filter form. Opened at a fragment filter (`#events?kind=..&from=..&to=..`,
//! and each chain step's own link), the rows the script hid must be exactly those outside the
//! filter. A screenshot of each, at a laptop's width (1366 px), is kept in
//! `target/report-screenshots/` as the test's artifact.
//!
//! Without Chromium the test says so and passes, unless CASCADE_REQUIRE_CHROMIUM=1 (as
//! `.ci/run` sets), when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var("CASCADE_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "CASCADE_REQUIRE_CHROMIUM=1 but chromium is not on PATH (apt-get install chromium)"
        );
        eprintln!("NOTICE: chromium not found; the browser test of report.html is skipped");
    }
    found
}

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn run(args: &[&str], out: &Path) -> i32 {
    Command::new(env!("CARGO_BIN_EXE_cascade"))
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .current_dir(ROOT)
        .status()
        .unwrap()
        .code()
        .unwrap()
}

/// Chromium with no network and a fresh profile, as the machine's notes say it must run
/// here, at a laptop's width; `what` is `--dump-dom` or `--screenshot=FILE`, `fragment` is
/// appended to the page's URL. The virtual time budget lets the page's script run before the
/// DOM is dumped. Returns stdout and stderr.
fn headless(
    chromium: &Path,
    profile: &Path,
    what: &str,
    page: &Path,
    fragment: &str,
) -> (String, String) {
    let o = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1366,2000",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(what)
        .arg(format!("file://{}{fragment}", page.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The page's own console messages (Chromium logs them as `CONSOLE` lines), CSP refusals
/// and page errors; the browser's complaints about its sandbox (no D-Bus here) are not the
/// page's.
fn page_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("Content Security Policy")
                || l.contains("Refused to")
                || l.contains(":CONSOLE")
                || l.contains("Uncaught")
        })
        .collect()
}

/// One row of the events view as the browser left it.
struct Row {
    kind: String,
    t: f64,
    /// A cut row's end (its `data-u`); an event's own time.
    until: f64,
    cut: bool,
    hidden: bool,
}

/// The events view's rows in a dumped DOM.
fn rows(dom: &str) -> Vec<Row> {
    let body = &dom[dom.find("<table id=\"et\"").expect("no events table")..];
    let body = &body[body.find("<tbody>").unwrap()..body.find("</tbody>").unwrap()];
    body.split("<tr ")
        .skip(1)
        .map(|r| {
            let attr = |name: &str| {
                let k = format!("{name}=\"");
                r.find(&k).map(|i| {
                    let v = &r[i + k.len()..];
                    v[..v.find('"').unwrap()].to_string()
                })
            };
            let open = &r[..r.find('>').unwrap()];
            let cut = open.contains("class=\"cut\"");
            let t: f64 = attr("data-t").unwrap().parse().unwrap();
            let kind = if cut {
                attr("data-k").unwrap()
            } else {
                let cells: Vec<&str> = r.split("<td>").collect();
                cells[2][..cells[2].find("</td>").unwrap()].to_string()
            };
            Row {
                kind,
                t,
                until: if cut {
                    attr("data-u").unwrap().parse().unwrap()
                } else {
                    t
                },
                cut,
                hidden: open.contains(" hidden"),
            }
        })
        .collect()
}

/// `from` and `to` of an events fragment, in seconds (the fragments here use `90s`, `10m`,
/// `20m10s`, `1h05m` forms).
fn window(href: &str) -> (f64, f64) {
    let get = |k: &str| {
        let v = href
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix(k))
            .unwrap();
        let (mut secs, mut num) = (0.0, String::new());
        for c in v.chars() {
            match c {
                'h' | 'm' | 's' => {
                    let n: f64 = num.parse().unwrap();
                    secs += n * match c {
                        'h' => 3600.0,
                        'm' => 60.0,
                        _ => 1.0,
                    };
                    num.clear();
                }
                c => num.push(c),
            }
        }
        secs
    };
    (get("from="), get("to="))
}

/// Checks that the rows shown are exactly those in the filter (kind if given, time window;
/// a cut row is in it when its span meets the window) and returns how many events are shown.
fn filtered(rows: &[Row], kind: Option<&str>, from: f64, to: f64) -> usize {
    let mut shown = 0;
    for r in rows {
        let inside = kind.is_none_or(|k| r.kind == k) && r.until >= from && r.t <= to;
        assert_eq!(
            !r.hidden, inside,
            "{} at {} (filter {kind:?} {from}..{to})",
            r.kind, r.t
        );
        if inside && !r.cut {
            shown += 1;
        }
    }
    assert!(rows.iter().any(|r| r.hidden), "the filter hid nothing");
    shown
}

fn check(
    chromium: &Path,
    name: &str,
    args: &[&str],
    code: Option<i32>,
    expect: &[&str],
    fragment_filter: Option<(&str, &str, &str)>,
) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cascade-browser-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("out");
    let got = run(args, &out);
    assert!(code.is_none_or(|c| c == got) && got <= 1, "exit {got}");
    let page = out.join("report.html");
    let profile = dir.join("profile");
    let (dom, err) = headless(chromium, &profile, "--dump-dom", &page, "");
    assert!(page_errors(&err).is_empty(), "{:?}", page_errors(&err));
    // The DOM Chromium built (not the file's text): parsed as HTML, SVG included.
    assert!(dom.contains("<div class=\"banner "), "no verdict banner");
    assert!(dom.contains("<h2>Timeline</h2>"), "no timeline");
    let charts = dom.matches("<polyline").count();
    let columns = std::fs::read_to_string(out.join("metrics.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .split(',')
        .count()
        - 1;
    assert_eq!(charts, columns, "a chart per metrics.csv column");
    for e in expect {
        assert!(dom.contains(e), "{e} missing from the rendered page");
    }
    // The script ran (the CSP allowed it by its hash): the filter form is shown, unfiltered.
    assert!(
        dom.contains("<form id=\"ef\" class=\"controls\"><label>kind"),
        "filter form not shown"
    );
    let all = rows(&dom);
    assert!(all.iter().all(|r| !r.hidden), "rows hidden with no filter");
    assert!(dom.contains(&format!(
        "No filter: all {} listed events shown.",
        all.iter().filter(|r| !r.cut).count()
    )));
    // Every step of the causal chain links into the events view; each link, followed, shows
    // exactly the events of its window, as many as the link says.
    let chain = &dom[dom.find("<ol class=\"chain\">").expect("no causal chain")..];
    let chain = &chain[..chain.find("</ol>").unwrap()];
    let steps = chain.matches("<li").count();
    let links: Vec<(&str, usize)> = chain
        .split("<a class=\"ev\" href=\"")
        .skip(1)
        .map(|l| {
            let href = &l[..l.find('"').unwrap()];
            let n = l[l.find('>').unwrap() + 1..l.find(" events").unwrap()]
                .replace(',', "")
                .parse()
                .unwrap();
            (href, n)
        })
        .collect();
    assert!(
        steps >= 2 && links.len() == steps,
        "{steps} steps, {} links",
        links.len()
    );
    for (href, n) in links.iter().take(3) {
        let href = href.replace("&amp;", "&");
        let (from, to) = window(&href);
        let (dom, err) = headless(chromium, &profile, "--dump-dom", &page, &href);
        assert!(page_errors(&err).is_empty(), "{:?}", page_errors(&err));
        let shown = filtered(&rows(&dom), None, from, to);
        assert_eq!(shown, *n, "{href}");
    }
    if let Some((kind, from, to)) = fragment_filter {
        let href = format!("#events?kind={kind}&from={from}&to={to}");
        let (dom, err) = headless(chromium, &profile, "--dump-dom", &page, &href);
        assert!(page_errors(&err).is_empty(), "{:?}", page_errors(&err));
        let (a, b) = window(&href);
        let shown = filtered(&rows(&dom), Some(kind), a, b);
        assert!(shown > 0, "{href} shows nothing");
        assert!(dom.contains(&format!(
            "{shown} of the {} listed events match the filter",
            all.iter().filter(|r| !r.cut).count()
        )));
    }
    let shots = PathBuf::from(ROOT).join("target/report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    let (_, err) = headless(
        chromium,
        &profile,
        &format!("--screenshot={}", png.display()),
        &page,
        "",
    );
    assert!(page_errors(&err).is_empty(), "{:?}", page_errors(&err));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    // A blank 1366x2000 page compresses to a few kilobytes; text and charts do not.
    assert!(bytes.len() > 50_000, "screenshot of {} bytes", bytes.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn chromium_renders_the_reports_of_both_reference_outages() {
    let Some(chromium) = chromium() else { return };
    check(
        &chromium,
        "grafana-2019",
        &["scenarios/grafana-2019.yaml"],
        Some(1),
        &[
            "FAIL: 3 of 3 expectations failed",
            "change: add the four PriorityClasses",
            "Preempted: pod/cortex-prod/",
            "OOMKilled: ",
        ],
        // The preemptions of the querier rollout and of the new Cortex, T+6m to T+21m.
        Some(("Preempted", "6m", "21m")),
    );
    check(
        &chromium,
        "target-2019-reduced",
        &[
            "scenarios/target-2019.yaml",
            "--set",
            "similarityScale=0.1",
            "--set",
            "gossip.agentFraction=0.5",
        ],
        // The verdict at a tenth of the size is target_2019.rs's business; the page's is here.
        None,
        &[
            "<div class=\"banner ",
            // Kafka's flapping is a fault: in the timeline and shaded on the charts.
            "fault: ",
            "serviceDown kafka, flapping",
            "fill=\"#f5c6c6\"",
        ],
        None,
    );
}
