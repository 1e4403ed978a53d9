//! A database tenant playing against rotor: every function and operator rotor's statements
//! use, overloaded in schemas the tenant can write, each trap recording its call and
//! making the tenant superuser when it runs with enough power. rotor's rotations must run
//! none of them.

use rotor_core::{ExposeSecret, SecretString};
use rotor_testkit::{postgres, random_hex};
use serde_json::json;
use tokio_postgres::Client;

use crate::common::*;

/// The overloads planted, as `name(argument types)` and the type they return: exact-type
/// matches for what rotor calls (`format` with text arguments, `pg_has_role`) and for the
/// helpers a careless statement would call unqualified.
const TRAP_FUNCTIONS: &[(&str, &str, &str)] = &[
    ("format", "text, text, text", "text"),
    ("format", "text, text", "text"),
    ("format", "text", "text"),
    ("current_setting", "text", "text"),
    ("current_setting", "text, boolean", "text"),
    ("set_config", "text, text, boolean", "text"),
    ("pg_has_role", "oid, oid, text", "boolean"),
    ("pg_has_role", "name, name, text", "boolean"),
    ("pg_has_role", "name, oid, text", "boolean"),
    ("quote_ident", "text", "text"),
    ("quote_literal", "text", "text"),
    ("text", "name", "text"),
    ("array_to_string", "name[], text", "text"),
    ("clock_timestamp", "", "timestamptz"),
    ("transaction_timestamp", "", "timestamptz"),
];

/// Operators planted as `(symbol, left, right)`.
const TRAP_OPERATORS: &[(&str, &str, &str)] = &[
    ("=", "name", "name"),
    ("=", "name", "text"),
    ("=", "text", "name"),
    ("=", "text", "text"),
    ("<>", "oid", "oid"),
    ("<>", "text", "text"),
    (">", "timestamptz", "timestamptz"),
    ("+", "timestamptz", "interval"),
    ("||", "text", "text"),
];

async fn connect(user: &str, password: &SecretString, dbname: &str) -> Client {
    postgres()
        .target(user, password, dbname)
        .connect(&postgres().tls())
        .await
        .unwrap_or_else(|e| panic!("login as {user} to {dbname}: {e}"))
}

/// Plants the traps in `dbname`'s `public` schema, as `tenant`.
async fn plant(tenant: &str, tenant_password: &SecretString, dbname: &str) {
    let client = connect(tenant, tenant_password, dbname).await;
    let trap_body = |what: &str| {
        format!(
            "LANGUAGE plpgsql AS $trap$ BEGIN \
               PERFORM pg_catalog.nextval('public.rotor_trap_calls'); \
               INSERT INTO public.rotor_trap_log VALUES ('{what}', current_user); \
               BEGIN ALTER ROLE \"{tenant}\" SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END; \
               RETURN NULL; END $trap$"
        )
    };
    let mut sql = String::from(
        "CREATE SEQUENCE public.rotor_trap_calls; \
         GRANT USAGE, SELECT, UPDATE ON SEQUENCE public.rotor_trap_calls TO PUBLIC; \
         CREATE TABLE public.rotor_trap_log (what text, by_user text); \
         GRANT INSERT, SELECT ON public.rotor_trap_log TO PUBLIC;",
    );
    for (name, args, ret) in TRAP_FUNCTIONS {
        sql.push_str(&format!(
            "CREATE FUNCTION public.{name}({args}) RETURNS {ret} {};",
            trap_body(&format!("{name}({args})"))
        ));
    }
    for (i, (op, left, right)) in TRAP_OPERATORS.iter().enumerate() {
        sql.push_str(&format!(
            "CREATE FUNCTION public.rotor_trap_op{i}({left}, {right}) RETURNS boolean {}; \
             CREATE OPERATOR public.{op} (LEFTARG = {left}, RIGHTARG = {right}, \
               FUNCTION = public.rotor_trap_op{i});",
            trap_body(&format!("{left} {op} {right}"))
        ));
    }
    client.batch_execute(&sql).await.expect("plant the traps");
}

/// How many times a trap in `dbname` ran (the sequence counts even calls whose
/// transaction rolled back) and which ones are logged.
async fn trap_calls(dbname: &str) -> (i64, Vec<String>) {
    let pg = postgres();
    let client = connect(&pg.admin_user, &pg.admin_password, dbname).await;
    let calls: i64 = client
        .query_one(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.rotor_trap_calls",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let logged = client
        .query(
            "SELECT pg_catalog.concat(what, ' by ', by_user) FROM public.rotor_trap_log",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    (calls, logged)
}

/// The attributes that matter of `role`, and the roles it is a member of.
async fn powers(role: &str) -> (bool, bool, bool, bool, Vec<String>) {
    let row = postgres()
        .admin()
        .await
        .query_one(
            "SELECT rolsuper, rolcreaterole, rolreplication, rolbypassrls, \
             ARRAY(SELECT b.rolname::text FROM pg_auth_members m JOIN pg_roles b \
                   ON b.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) \
             FROM pg_roles r WHERE rolname = $1",
            &[&role],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

#[tokio::test]
async fn a_tenant_s_overloads_never_run_in_either_strategy() {
    let ctx = context(&[]).await;
    let pg = postgres();
    let admin = pg.admin().await;
    let tenant = db_user("tenant_", "t-").await;
    let app = db_user("tenant_app_", "a-").await;
    let tenant_db = format!("tenantdb_{}", random_hex(4));
    let master_db = format!("masterdb_{}", random_hex(4));
    for sql in [
        format!("CREATE DATABASE {tenant_db} OWNER {}", tenant.name),
        format!("CREATE DATABASE {master_db}"),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    // In the master's own database the tenant may create objects in `public`, as every
    // role may by default before PostgreSQL 15.
    connect(&pg.admin_user, &pg.admin_password, &master_db)
        .await
        .batch_execute(&format!("GRANT CREATE ON SCHEMA public TO {}", tenant.name))
        .await
        .unwrap();
    plant(&tenant.name, &tenant.password, &tenant_db).await;
    plant(&tenant.name, &tenant.password, &master_db).await;
    // The tenant owns its database and puts its schema before pg_catalog for every session
    // there: an exact-type tie (`text || text`, `clock_timestamp()`) then goes to its trap,
    // unless rotor pins the search path or qualifies the call. (The test's own statements
    // there are qualified from now on.)
    connect(&tenant.name, &tenant.password, &tenant_db)
        .await
        .batch_execute(&format!(
            "ALTER DATABASE {tenant_db} SET search_path = public, pg_catalog"
        ))
        .await
        .unwrap();

    // The traps are armed: an unqualified call, as the samples make, springs one.
    {
        let mut client = connect(&pg.admin_user, &pg.admin_password, &tenant_db).await;
        let tx = client.transaction().await.unwrap();
        tx.batch_execute("SELECT format('%s %s', 'a', 'b')")
            .await
            .unwrap();
        let sprung: bool = tx
            .query_one(
                "SELECT rolsuper FROM pg_catalog.pg_roles \
                 WHERE rolname OPERATOR(pg_catalog.=) $1",
                &[&tenant.name],
            )
            .await
            .unwrap()
            .get(0);
        assert!(sprung, "an unqualified format() runs the tenant's trap");
        tx.rollback().await.unwrap();
    }
    let (armed_calls, _) = trap_calls(&tenant_db).await;
    assert!(armed_calls > 0, "the armed check counted its call");

    let single = create_secret(
        &db_json(&tenant, json!({"dbname": tenant_db.as_str()})),
        &[],
    )
    .await;
    let master = create_secret(
        &json!({
            "engine": "postgres", "host": pg.host, "port": pg.port,
            "username": pg.admin_user, "password": pg.admin_password.expose_secret(),
            "dbname": master_db.as_str(),
        }),
        &[],
    )
    .await;
    let alternating = create_secret(
        &db_json(
            &app,
            json!({"dbname": tenant_db.as_str(), "masterarn": master.as_str()}),
        ),
        &[],
    )
    .await;
    for _ in 0..2 {
        rotate(&ctx, &single).await;
        rotate(&ctx, &alternating).await;
    }
    let user = value_at(&single, "AWSCURRENT").await;
    assert!(
        can_login(&tenant.name, &password_of(&user)).await,
        "the single-user rotations worked"
    );
    let alternate = value_at(&alternating, "AWSCURRENT").await;
    assert_eq!(alternate["username"], app.name.as_str(), "two alternations");

    assert_eq!(
        trap_calls(&tenant_db).await,
        (armed_calls, vec![]),
        "no trap ran in the tenant's database"
    );
    assert_eq!(
        trap_calls(&master_db).await,
        (0, vec![]),
        "no trap ran in the master's database"
    );
    let clone = format!("{}_clone", app.name);
    for role in [&tenant.name, &app.name, &clone] {
        let (superuser, createrole, replication, bypassrls, _) = powers(role).await;
        assert!(
            !(superuser || createrole || replication || bypassrls),
            "{role} gained a privilege"
        );
    }
    assert_eq!(powers(&tenant.name).await.4, Vec::<String>::new());
    assert_eq!(powers(&app.name).await.4, Vec::<String>::new());
    assert_eq!(powers(&clone).await.4, vec![app.name.clone()]);
}

#[tokio::test]
async fn a_failed_password_change_reveals_no_verifier_to_the_function_or_the_server_log() {
    // A master that may not create roles: the CREATE ROLE rotor sends fails.
    let ctx = context(&[]).await;
    let pg = postgres();
    let weak = db_user("weak_master_", "m-").await;
    let app = db_user("weak_app_", "a-").await;
    let master = create_secret(&db_json(&weak, json!({})), &[]).await;
    let arn = create_secret(&db_json(&app, json!({"masterarn": master.as_str()})), &[]).await;
    let log_before = pg.server_log().len();
    let token = begin_rotation(&arn).await;
    step(&ctx, rotor_rotate::Step::CreateSecret, &arn, &token)
        .await
        .unwrap();

    let err = step(&ctx, rotor_rotate::Step::SetSecret, &arn, &token)
        .await
        .unwrap_err();

    let text = err.to_string();
    assert!(text.contains("permission denied"), "{text}");
    assert!(
        !text.contains("SCRAM-SHA-256$"),
        "the error holds a verifier"
    );
    let since = &pg.server_log()[log_before..];
    assert!(
        since.contains("permission denied"),
        "the server logged the failure"
    );
    assert_eq!(
        verifier_lines(since),
        0,
        "the server log holds the verifier"
    );
    let leaked = rotor_testkit::logs::contents()
        .lines()
        .filter(|l| l.contains("SCRAM-SHA-256$") && !l.contains("CREATE ROLE \""))
        .count();
    assert_eq!(leaked, 0, "function log lines with a verifier");
}
