"""SOC 2 evidence packages: the report (:mod:`.report`), its charts (:mod:`.charts`), its manifest (:mod:`.manifest`).

>>> inputs = EvidenceInputs(since, until, policies=["policies/"], logs=["decisions.jsonl"])  # doctest: +SKIP
>>> build_evidence(inputs, "evidence/").verified  # doctest: +SKIP
True
"""

from yaml2rego.audit.evidence.manifest import verify_manifest, verify_tenant_views, write_manifest
from yaml2rego.audit.evidence.report import EvidenceInputs, EvidenceResult, build_evidence, parse_when

__all__ = [
    "EvidenceInputs",
    "EvidenceResult",
    "build_evidence",
    "parse_when",
    "verify_manifest",
    "verify_tenant_views",
    "write_manifest",
]
