#!/usr/bin/env bash
# Prints the requester of a merge: the author of the pull request (GitHub) or
# merge request (GitLab) whose merge made commit SHA, as an identity the
# policy's `identity` aliases can name: github:LOGIN or gitlab:USERNAME.
#
# It reads, on stdin, the host's list of the requests a commit belongs to:
#   GitHub: gh api repos/OWNER/REPO/commits/SHA/pulls
#   GitLab: curl "$CI_API_V4_URL/projects/$CI_PROJECT_ID/repository/commits/SHA/merge_requests"
# Only a request that was merged, with SHA as its merge (or squash) commit,
# counts. Whoever pressed merge does not: that is often an approver. Without
# exactly one such author it prints nothing and exits 1, so that an apply
# never runs under a requester it could not name.
#
# Usage: pr-author.sh github|gitlab SHA < requests.json
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 github|gitlab SHA < requests.json" >&2
  exit 2
fi
host=$1
sha=$2
case "$host" in
github)
  filter='[.[] | select(.merged_at != null and .merge_commit_sha == $sha) | .user.login] | unique'
  ;;
gitlab)
  filter='[.[] | select(.state == "merged" and (.merge_commit_sha == $sha or .squash_commit_sha == $sha)) | .author.username] | unique'
  ;;
*)
  echo "$0: unknown host $host: use github or gitlab" >&2
  exit 2
  ;;
esac
if ! authors=$(jq -r --arg sha "$sha" "$filter | .[]"); then
  echo "$0: could not read the $host response as JSON" >&2
  exit 1
fi
count=$(printf '%s' "$authors" | grep -c . || true)
if [ "$count" -ne 1 ]; then
  echo "$0: commit $sha is the merge of $count merged request(s) on $host; want exactly one." >&2
  echo "Apply changes to access through a reviewed and merged request." >&2
  exit 1
fi
case "$authors" in
*[!A-Za-z0-9._-]*)
  echo "$0: unexpected characters in author $authors" >&2
  exit 1
  ;;
esac
printf '%s:%s\n' "$host" "$authors"
