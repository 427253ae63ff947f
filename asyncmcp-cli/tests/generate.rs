//! `asyncmcp completions SHELL` and `asyncmcp man`: generated from the clap
//! definitions, naming every subcommand and not the hidden internal one.

use std::process::Command;

const SUBCOMMANDS: [&str; 10] =
    ["demo", "infra", "serve", "proxy", "call", "tools", "status", "completions", "man", "gc"];

fn asyncmcp(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_asyncmcp")).args(args).output().expect("run asyncmcp");
    assert!(out.status.success(), "asyncmcp {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn completions_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let script = asyncmcp(&["completions", shell]);
        for name in SUBCOMMANDS {
            assert!(script.contains(name), "{shell} completions name `{name}`");
        }
        assert!(!script.contains("reaper"), "{shell} completions offer the internal subcommand");
    }
    // The bash script parses.
    let bash = asyncmcp(&["completions", "bash"]);
    let checked = Command::new("bash").arg("-n").arg("-c").arg(&bash).status().expect("run bash -n");
    assert!(checked.success(), "bash -n accepts the completion script");
}

#[test]
fn man_page_names_every_subcommand() {
    let page = asyncmcp(&["man"]);
    assert!(page.starts_with(".ie") || page.contains(".TH asyncmcp 1"), "roff:\n{page}");
    assert!(page.contains(".TH asyncmcp 1"), "a section 1 page");
    for name in SUBCOMMANDS.iter().filter(|n| **n != "gc") {
        assert!(page.contains(&format!("asyncmcp\\-{}", name)), "the man page names `{name}`");
    }
    assert!(!page.contains("reaper"), "the man page hides the internal subcommand");
}
