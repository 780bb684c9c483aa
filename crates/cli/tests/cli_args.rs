//! Argument parsing through the public entry point: the daemon hand-off, global flags, Docker's
//! flag spellings and clap's usage errors.

use std::ffi::OsString;
use std::path::PathBuf;

use berth_cli::commands::image::ImageCommand;
use berth_cli::commands::Command;
use berth_cli::{run, Cli, Outcome};
use clap::Parser;

fn argv(args: &[&str]) -> Vec<OsString> {
    std::iter::once("berth")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect()
}

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(argv(args)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn daemon_is_handed_back_with_defaults() {
    match run(argv(&["daemon"])) {
        Outcome::Daemon(d) => {
            assert_eq!(d.root, PathBuf::from("/var/lib/berth"));
            assert_eq!(d.exec_root, PathBuf::from("/run/berth"));
            assert!(d.hosts.is_empty());
            assert_eq!(
                (d.log_level.as_str(), d.log_format.as_str()),
                ("info", "text")
            );
        }
        other => panic!("{other:?}"),
    }
    match run(argv(&[
        "daemon",
        "-H",
        "unix:///tmp/a.sock",
        "--host",
        "tcp://127.0.0.1:2376",
        "--tlsverify",
        "--root",
        "/tmp/r",
    ])) {
        Outcome::Daemon(d) => {
            assert_eq!(d.hosts, vec!["unix:///tmp/a.sock", "tcp://127.0.0.1:2376"]);
            assert!(d.tlsverify);
            assert_eq!(d.root, PathBuf::from("/tmp/r"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn version_flag_and_usage_errors() {
    assert!(matches!(run(argv(&["-v"])), Outcome::Exit(0)));
    assert!(matches!(run(argv(&["--version"])), Outcome::Exit(0)));
    assert!(matches!(run(argv(&["frobnicate"])), Outcome::Exit(2)));
    assert!(matches!(
        run(argv(&["images", "--bogus"])),
        Outcome::Exit(2)
    ));
    assert!(matches!(run(argv(&["--help"])), Outcome::Exit(0)));
}

#[test]
fn global_flags() {
    let cli = parse(&[
        "-H",
        "tcp://10.0.0.1:2376",
        "--tlsverify",
        "--tlscacert",
        "/c/ca.pem",
        "-l",
        "debug",
        "info",
    ]);
    assert_eq!(cli.global.host, "tcp://10.0.0.1:2376");
    assert!(cli.global.tlsverify);
    assert_eq!(cli.global.log_level, "debug");
    let tls = cli.global.tls_options().unwrap_or_default();
    assert!(tls.verify);
    assert_eq!(tls.ca_cert, Some(PathBuf::from("/c/ca.pem")));
    assert!(parse(&["images"]).global.tls_options().is_none());
}

#[test]
fn docker_spellings() {
    assert!(
        matches!(parse(&["image", "list", "-q"]).command, Some(Command::Image { command: ImageCommand::Ls(a) }) if a.quiet)
    );
    assert!(matches!(
        parse(&["image", "rmi", "x"]).command,
        Some(Command::Image {
            command: ImageCommand::Rm(_)
        })
    ));
    assert!(
        matches!(parse(&["image", "remove", "-f", "x"]).command, Some(Command::Image { command: ImageCommand::Rm(a) }) if a.force)
    );
    assert!(matches!(parse(&["history", "busybox"]).command, Some(Command::History(a)) if a.human));
    assert!(
        matches!(parse(&["history", "-H", "busybox"]).command, Some(Command::History(a)) if a.human && a.image == "busybox")
    );
    assert!(
        matches!(parse(&["history", "--human=false", "busybox"]).command, Some(Command::History(a)) if !a.human)
    );
    assert!(
        matches!(parse(&["images", "-f", "dangling=true", "--filter", "label=a"]).command, Some(Command::Images(a)) if a.filter.len() == 2)
    );
    assert!(
        matches!(parse(&["import", "-c", "CMD x", "-c", "ENV a=b", "-", "img"]).command, Some(Command::Import(a)) if a.change.len() == 2 && a.source == "-")
    );
}

/// Subcommands are built only when invoked (`#[command(defer = true)]`); every one of them still
/// passes clap's consistency checks and keeps the help text of its own variant, not of the
/// argument struct it is made of.
#[test]
fn deferred_subcommands_are_consistent_and_keep_their_help() {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    fn walk(c: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        for s in c.get_subcommands() {
            let p = format!("{path} {}", s.get_name()).trim().to_string();
            let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push((p.clone(), about));
            walk(s, &p, out);
        }
    }
    let mut all = Vec::new();
    walk(&cmd, "", &mut all);
    assert!(all.len() > 90, "{} subcommands", all.len());
    let about = |p: &str| all.iter().find(|(q, _)| q == p).map(|(_, a)| a.as_str());
    assert_eq!(about("run"), Some("Run a command in a new container"));
    assert_eq!(about("container create"), Some("Create a new container"));
    assert_eq!(about("daemon"), Some("Start the berth daemon"));
    let missing: Vec<_> = all
        .iter()
        .filter(|(p, a)| a.is_empty() && !p.ends_with("help"))
        .collect();
    assert!(missing.is_empty(), "subcommands without help: {missing:?}");
    // The full tree passes clap's debug assertions.
    Cli::command().debug_assert();
}
