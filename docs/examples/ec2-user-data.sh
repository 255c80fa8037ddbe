#!/bin/sh
# EC2 user-data (cloud-init runs it as root once, at first boot) that makes
# the instance a clusterd node: it downloads a release tarball, installs it
# with install.sh (/usr/local/bin/clusterd, clusterd.service) and joins the
# cluster. Use the same user-data for every instance of the cluster, e.g. in
# the launch template of an autoscaling group: the first three instances
# form the cluster (--bootstrap-expect 3), every later one joins it.
#
# The cluster's bootstrap token (make one with 'clusterd token bootstrap')
# is read from SSM Parameter Store, a SecureString named
# /clusterd/$CLUSTER_NAME/bootstrap-token, so it is not in the user-data:
# the instance profile needs ssm:GetParameter on it (and kms:Decrypt on its
# key) and autoscaling:DescribeAutoScalingInstances, and the aws CLI. Whoever holds the token can sign node certificates for the cluster.
#
# The peers are found one of two ways (JOIN_BY):
#   dns  a DNS name with one A record per server node, e.g. a Route 53
#        private hosted zone record clusterd.internal listing the first
#        machines' private IPs; gossip resolves it again at every join try.
#   tag  an AWS tag lookup: every running instance tagged
#        clusterd-cluster=$CLUSTER_NAME (put the tag in the launch template).
#        Needs the aws CLI and an instance profile allowing
#        ec2:DescribeInstances. The peers are looked up once, here; a node
#        that later restarts resumes from its data dir.
#
# Security group: allow 5050/tcp, 5051/tcp and 5052/tcp+udp from the group
# itself (and 5050/tcp from where operators and frameworks connect). Raft,
# gossip and node-to-node HTTP use mutual TLS and the API needs a token, but
# there is still no reason to open these ports to the internet.
#
# The tarball holds clusterd, install.sh and install/ (scripts/install.sh and
# scripts/install/ of a checkout), at its top level.
set -eu

CLUSTERD_URL="https://downloads.example.com/clusterd/v1.0.0/clusterd-linux-amd64.tar.gz" # placeholder: your release
CLUSTERD_SHA256=""                                                                     # its sha256sum, to verify the download
JOIN_BY=dns                                                                            # dns or tag
JOIN_DNS=clusterd.internal
CLUSTER_NAME=prod
BOOTSTRAP_EXPECT=3

log() { echo "clusterd user-data: $*" >&2; }

# Instance metadata through IMDSv2 (a session token first).
token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
imds() { curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }
region=$(imds placement/region)
zone=$(imds placement/availability-zone)
ip=$(imds local-ipv4)
instance=$(imds instance-id)

# The Auto Scaling group this instance belongs to: the autoscaler's group
# attribute (asg), with the instance id its AWS actuator terminates by.
asg=$(aws autoscaling describe-auto-scaling-instances --region "$region" --instance-ids "$instance" \
	--query 'AutoScalingInstances[0].AutoScalingGroupName' --output text 2>/dev/null || echo None)
attributes="zone=$zone,instance-id=$instance"
[ "$asg" = None ] || attributes="$attributes,asg=$asg"

bootstrap_token=$(aws ssm get-parameter --region "$region" --with-decryption \
	--name "/clusterd/$CLUSTER_NAME/bootstrap-token" --query Parameter.Value --output text)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 5 -o "$work/clusterd.tar.gz" "$CLUSTERD_URL"
if [ -n "$CLUSTERD_SHA256" ]; then
	echo "$CLUSTERD_SHA256  $work/clusterd.tar.gz" | sha256sum -c -
fi
tar -xzf "$work/clusterd.tar.gz" -C "$work"

join=""
case $JOIN_BY in
dns)
	join="--join $JOIN_DNS"
	;;
tag)
	# Running and pending instances of this cluster (this one included:
	# joining oneself is harmless). Instances started together may not all
	# be listed yet: retry for up to two minutes until another one shows.
	for _ in $(seq 1 24); do
		peers=$(aws ec2 describe-instances --region "$region" \
			--filters "Name=tag:clusterd-cluster,Values=$CLUSTER_NAME" "Name=instance-state-name,Values=pending,running" \
			--query 'Reservations[].Instances[].PrivateIpAddress' --output text)
		others=$(echo "$peers" | tr -s ' \t' '\n' | grep -v -e "^$ip\$" -e '^None$' -e '^$' || true)
		[ -z "$others" ] || break
		sleep 5
	done
	for p in $ip $others; do
		join="$join --join $p"
	done
	;;
*)
	log "JOIN_BY=$JOIN_BY: must be dns or tag"
	exit 1
	;;
esac
log "joining through:$join"

# shellcheck disable=SC2086 # $join is a list of options
sh "$work/install.sh" --binary "$work/clusterd" $join --bootstrap-expect "$BOOTSTRAP_EXPECT" --token "$bootstrap_token" \
	--env "CLUSTERD_ADVERTISE=$ip" \
	--env "CLUSTERD_NODE_NAME=$instance" \
	--env "CLUSTERD_ATTRIBUTE=$attributes" \
	--env "CLUSTERD_LOG_FORMAT=json"
