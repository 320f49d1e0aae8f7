//! The catalogue over TLS to a real PostgreSQL that takes TCP connections over TLS only
//! (`hostssl` in its `pg_hba.conf`), with a certificate from a CA made here: the URL's
//! `sslmode=require&sslrootcert=…` connects and works; a plain connection is refused by
//! the server; a certificate from another CA, or one naming another host, is refused by
//! the catalogue; `require` with no CA to check against is refused before connecting.

use stockroom_catalog::{NewMember, Options, SqlCatalog};
use stockroom_vocab::{Role, Tier};

#[path = "support/postgres.rs"]
mod postgres_server;

/// A CA, and a certificate it signed for `names`: (CA PEM, certificate PEM, key PEM).
fn issued(names: &[&str]) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).expect("CA certificate");
    let key = rcgen::KeyPair::generate().expect("server key");
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let certificate = rcgen::CertificateParams::new(names)
        .expect("server params")
        .signed_by(&key, &ca, &ca_key)
        .expect("server certificate");
    (ca.pem(), certificate.pem(), key.serialize_pem())
}

fn member(catalog: &SqlCatalog) -> String {
    catalog
        .add_member(&NewMember {
            name: "Ada".into(),
            roles: vec![Role::Customer],
            tier: Tier::Registered,
            seats: 1,
        })
        .expect("add a member")
        .id
}

#[test]
fn the_catalogue_connects_over_tls_checking_the_servers_certificate_against_its_ca() {
    let (ca, certificate, key) = issued(&["127.0.0.1", "localhost"]);
    let server = postgres_server::Postgres::start_tls(&certificate, &key);
    let url = server.database();
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).expect("ca.pem");
    let tls = format!("{url}?sslmode=require&sslrootcert={}", ca_file.display());

    let catalog = SqlCatalog::connect(&tls, Options::default()).expect("connects over TLS");
    let id = member(&catalog);
    assert_eq!(catalog.member(&id).expect("read back").name, "Ada");

    // The server takes no plain connection.
    let plain = SqlCatalog::connect(&url, Options::default()).expect_err("refused");
    assert!(plain.to_string().contains("pg_hba"), "{plain}");

    // A certificate another CA signed is refused by the catalogue.
    let (other_ca, _, _) = issued(&["127.0.0.1"]);
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, other_ca).expect("other.pem");
    let stranger = format!("{url}?sslmode=require&sslrootcert={}", other_file.display());
    let refused = SqlCatalog::connect(&stranger, Options::default()).expect_err("refused");
    assert!(
        refused.to_string().to_lowercase().contains("certificate"),
        "{refused}"
    );

    // Nor does `require` go ahead with no CA to check against.
    let unchecked = SqlCatalog::connect(&format!("{url}?sslmode=require"), Options::default())
        .expect_err("refused");
    assert!(unchecked.to_string().contains("sslrootcert"), "{unchecked}");
}

#[test]
fn a_certificate_that_does_not_name_the_host_is_refused() {
    let (ca, certificate, key) = issued(&["db.example"]);
    let server = postgres_server::Postgres::start_tls(&certificate, &key);
    let url = server.database();
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).expect("ca.pem");
    let tls = format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        ca_file.display()
    );
    let refused = SqlCatalog::connect(&tls, Options::default()).expect_err("refused");
    assert!(
        refused.to_string().to_lowercase().contains("certificate"),
        "{refused}"
    );
}
