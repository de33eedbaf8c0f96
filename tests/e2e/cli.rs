//! The `shiji` command line: migrate, schema print, config print, and config errors.

use std::process::Output;

use crate::on_both_backends;

fn shiji(args: &[&str], env: &[(String, String)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_shiji"))
        .args(args)
        .env_remove("SHIJI_CONFIG")
        .envs(env.iter().cloned())
        .output()
        .expect("run shiji")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

on_both_backends! {
    async fn migrate_is_idempotent(db: TestDb) {
        let env = db.env();
        let mut reports = Vec::new();
        for _ in 0..2 {
            let out = tokio::task::spawn_blocking({
                let env = env.clone();
                move || shiji(&["migrate"], &env)
            })
            .await
            .unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            let report = text(&out.stdout);
            assert!(report.contains("store migrated"), "{report}");
            reports.push(report);
        }
        // The second run finds nothing to do and reports the same version.
        assert_eq!(reports[0], reports[1]);
    }
}

#[test]
fn schema_print_shows_the_served_sdl_without_a_database() {
    let out = shiji(
        &["schema", "print"],
        &[(
            "SHIJI_DATABASE_URL".into(),
            "postgres://nobody@127.0.0.1:1/none".into(),
        )],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sdl = text(&out.stdout);
    for expected in [
        "type Query",
        "serverInfo: ServerInfo!",
        "interface Node",
        "type PageInfo",
        "type UserError",
    ] {
        assert!(sdl.contains(expected), "{expected} missing from\n{sdl}");
    }
}

#[test]
fn config_print_redacts_secrets() {
    let out = shiji(
        &["config", "print"],
        &[
            (
                "SHIJI_DATABASE_URL".into(),
                "postgres://shiji:hunter2@db.internal/shiji".into(),
            ),
            ("SHIJI_MEDIA_STORE".into(), "s3".into()),
            ("SHIJI_MEDIA_S3_BUCKET".into(), "media".into()),
            ("SHIJI_MEDIA_S3_ACCESS_KEY_ID".into(), "AKID".into()),
            (
                "SHIJI_MEDIA_S3_SECRET_ACCESS_KEY".into(),
                "wJalrXUtnFEMI-hunter3".into(),
            ),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains("hunter3"), "{printed}");
    assert!(
        printed.contains("s3_secret_access_key = \"****\""),
        "{printed}"
    );
    assert!(
        printed.contains("postgres://shiji:****@db.internal/shiji"),
        "{printed}"
    );
    assert!(printed.contains("listen = \"127.0.0.1:8080\""), "{printed}");
}

#[test]
fn config_mistakes_name_the_key_and_stop_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shiji.toml");
    std::fs::write(&file, "[graphql]\nmax_depth = \"deep\"\n").unwrap();
    let out = shiji(
        &["--config", file.to_str().unwrap(), "config", "print"],
        &[],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("graphql.max_depth"), "{err}");

    let out = shiji(
        &["config", "print"],
        &[("SHIJI_SERVER_LISTN".into(), "x".into())],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("SHIJI_SERVER_LISTN"),
        "{}",
        text(&out.stderr)
    );

    // An S3 media store needs a bucket; found before anything starts.
    let out = shiji(
        &["config", "print"],
        &[("SHIJI_MEDIA_STORE".into(), "s3".into())],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("media.s3_bucket"), "{err}");
}
