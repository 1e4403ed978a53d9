"""Runs AWS's Python single-user PostgreSQL rotation sample in-process, the way
rotor-rotate's benchmark runs rotor's handler: a fresh role and secret per round, the
rotation begun as Secrets Manager begins one, then the four steps timed. Prints one JSON
line: the four steps' times, each step's and the CPU time they took, in milliseconds. No secret value is printed.

Environment: SAMPLE_DIR (the sample's lambda_function.py), CA (the server's root CA),
SECRETS_MANAGER_ENDPOINT, PGHOST, PGPORT, ADMIN, ADMIN_PASSWORD, ROUNDS.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.environ["SAMPLE_DIR"])

import boto3  # noqa: E402
import pgdb  # noqa: E402

import lambda_function as sample  # noqa: E402

STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]
CA = os.environ["CA"]
connect = pgdb.connect


def connect_with_test_ca(*args, **kwargs):
    # The sample trusts Lambda's bundle at a fixed path; the local server has its own CA.
    if "sslrootcert" in kwargs:
        kwargs["sslrootcert"] = CA
    return connect(*args, **kwargs)


sample.pgdb.connect = connect_with_test_ca
sm = boto3.client("secretsmanager", endpoint_url=os.environ["SECRETS_MANAGER_ENDPOINT"],
                  region_name="us-east-1")
host, port = os.environ["PGHOST"], int(os.environ["PGPORT"])
admin = connect(host=host, port=port, user=os.environ["ADMIN"],
                password=os.environ["ADMIN_PASSWORD"], database="postgres",
                sslmode="verify-full", sslrootcert=CA)

rounds = []
for i in range(int(os.environ.get("ROUNDS", "5"))):
    user = "pysample_%d_%s" % (i, os.urandom(3).hex())
    password = os.urandom(12).hex()
    cursor = admin.cursor()
    cursor.execute("CREATE ROLE %s LOGIN PASSWORD '%s'" % (user, password))
    admin.commit()
    arn = sm.create_secret(Name="pysample/" + user, SecretString=json.dumps({
        "engine": "postgres", "host": host, "port": port, "username": user,
        "password": password, "dbname": "postgres", "ssl": True}))["ARN"]
    token = os.urandom(16).hex()
    try:
        # Enables rotation and creates the empty AWSPENDING version; moto then fails to
        # invoke the (absent) function, as expected.
        sm.rotate_secret(SecretId=arn, ClientRequestToken=token,
                         RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:x",
                         RotationRules={"AutomaticallyAfterDays": 30})
    except Exception:
        pass
    times = {}
    started, cpu = time.perf_counter(), time.process_time()
    for step in STEPS:
        t = time.perf_counter()
        sample.lambda_handler({"Step": step, "SecretId": arn, "ClientRequestToken": token}, None)
        times[step] = (time.perf_counter() - t) * 1000
    times["total"] = (time.perf_counter() - started) * 1000
    # CPU time of the whole process (user + system, every thread), as rotor's is measured.
    times["cpu"] = (time.process_time() - cpu) * 1000
    rounds.append(times)
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING",
                                   RemoveFromVersionId=token)
print(json.dumps(rounds))
