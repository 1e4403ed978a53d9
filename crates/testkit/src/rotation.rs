//! What Secrets Manager does around a rotation, for tests, demos and benchmarks that play
//! the service and drive the four steps themselves.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::RotationRulesType;

/// A rotation function moto cannot call: RotateSecret still enables rotation and creates
/// the empty AWSPENDING version, then fails to invoke it (that error is expected).
const NO_SUCH_LAMBDA: &str = "arn:aws:lambda:us-east-1:123456789012:function:played-by-the-test";

/// Starts a rotation as Secrets Manager does before it invokes createSecret and returns
/// the token of the new AWSPENDING version.
pub async fn begin(sm: &Client, arn: &str) -> String {
    let token = format!("{}-{}", crate::random_hex(8), crate::random_hex(12));
    let _ = sm
        .rotate_secret()
        .secret_id(arn)
        .client_request_token(&token)
        .rotation_lambda_arn(NO_SUCH_LAMBDA)
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await;
    let stages = sm
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .expect("DescribeSecret")
        .version_ids_to_stages
        .unwrap_or_default();
    assert_eq!(
        stages.get(&token).map(Vec::as_slice),
        Some(["AWSPENDING".to_owned()].as_slice()),
        "the rotation is set up"
    );
    token
}

/// What Secrets Manager does after finishSecret succeeds: removes the AWSPENDING label
/// (moto keeps it, and would refuse the next rotation).
pub async fn end(sm: &Client, arn: &str, token: &str) {
    sm.update_secret_version_stage()
        .secret_id(arn)
        .version_stage("AWSPENDING")
        .remove_from_version_id(token)
        .send()
        .await
        .expect("remove AWSPENDING");
}
