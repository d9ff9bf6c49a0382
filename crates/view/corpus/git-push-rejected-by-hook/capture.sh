#!/usr/bin/env bash
# git push --progress to a local bare repo whose pre-receive hook scans every
# changed file (2,561 "remote: policy: ... ok" lines) and finds an AWS access
# key in config/deploy/aws.env, so the push is rejected. Includes git's real
# \r progress counters (Enumerating/Counting/Compressing/Writing objects).
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C
export GIT_AUTHOR_NAME="Dev Two" GIT_AUTHOR_EMAIL=dev2@example.com
export GIT_COMMITTER_NAME="Dev Two" GIT_COMMITTER_EMAIL=dev2@example.com

git init -q --bare -b main remote.git
cat > remote.git/hooks/pre-receive <<'EOF'
#!/usr/bin/env bash
# Policy checks on every file changed by the push.
status=0
zero=0000000000000000000000000000000000000000
while read -r old new ref; do
  echo "policy: checking $ref ($old..$new)"
  if [ "$old" = "$zero" ]; then range="$new"; else range="$old..$new"; fi
  files=$(git diff-tree -r --no-commit-id --name-only --root $(git rev-list "$range") | sort -u)
  n=$(echo "$files" | wc -l)
  echo "policy: $n files changed"
  while read -r f; do
    blob=$(git rev-parse "$new:$f" 2>/dev/null) || continue
    if git cat-file -p "$blob" | grep -nE 'AKIA[0-9A-Z]{16}' >/tmp/hit.$$; then
      line=$(cut -d: -f1 /tmp/hit.$$)
      echo "policy: $f ... FAIL"
      echo "error: possible AWS access key ID in $f:$line; secrets must go to the vault, not the repo"
      status=1
    else
      echo "policy: $f ... ok"
    fi
  done <<< "$files"
  rm -f /tmp/hit.$$
done
if [ $status -ne 0 ]; then
  echo "policy: push rejected: 1 file failed the secret scan (see above)"
fi
exit $status
EOF
chmod +x remote.git/hooks/pre-receive

git clone -q remote.git work 2>/dev/null
cd work
git commit -q --allow-empty -m "root"
git push -q origin main 2>/dev/null
for area in api billing config deploy docs jobs search ui; do
  for i in $(seq -w 1 320); do
    mkdir -p "$area/pkg_$((10#$i % 16))"
    printf 'name = "%s-%s"\nowner = "team-%s"\nreplicas = %d\n' "$area" "$i" "$area" $((10#$i % 5 + 1)) > "$area/pkg_$((10#$i % 16))/svc_$i.toml"
  done
done
mkdir -p config/deploy
printf 'AWS_REGION=eu-central-1\nAWS_S3_BUCKET=acme-deploy-artifacts\nAWS_ACCESS_KEY_ID=AKIAQ3EGUQ7XVN2KJ5ZT\n' > config/deploy/aws.env
git add -A
git commit -q -m "deploy: service manifests for all areas"

git push --progress origin main > "$OUT" 2>&1
echo "capture: git exited $?" >&2
