# pragma version 0.4.3
# pragma evm-version prague
"""
@title Xinlian DataAuthorisation: data resources, access requests, grants, uses and revocations
@notice 数据二十条 / PIPL: a data holder lists a resource (level 一般/重要/核心, share type 无条件/有条件/不予),
        a data user requests a field subset for a purpose, a period and a number of uses; the holder grants it
        (for personal data with the data subject's own SM2-signed consent, checked here by the SM2
        precompile); each use is recorded with a digest of what was returned; the holder or the data subject
        revokes; grants expire. Every step emits an event: the event log is the use trail.

Lifecycle of a request / grant (one id for both)
------------------------------------------------
REQUESTED --approve (DATA_REGULATOR of neither holder's nor requester's organisation; 核心 only)--> APPROVED
REQUESTED | APPROVED --grant (holder; 核心 needs APPROVED)--> GRANTED
REQUESTED | APPROVED --refuse (holder; regulator for 核心)--> REFUSED
GRANTED --revoke (holder) | revoke_by_subject (subject's signature)--> REVOKED
GRANTED --expire (any member, once block.timestamp >= valid_until)--> EXPIRED   (status_of derives it anyway)

Field ids are bit positions 0..255 of a uint256 mask. Times are unix seconds (block.timestamp); a grant is
usable for valid_from <= block.timestamp < valid_until.

Signed messages (fixed-width big-endian fields, so the EVM and the SDK rebuild the same bytes)
-------------------------------------------------------------------------------------------
consent    = "xinlian/consent/1" || chain_id(32) || contract(20) || grant_id(32) || resource_id(32)
             || requester(20) || subject_commitment(32) || purpose(32) || fields(32) || valid_from(32)
             || valid_until(32) || use_limit(32)
revocation = "xinlian/consent-revoke/1" || chain_id(32) || contract(20) || grant_id(32)
             || subject_commitment(32)
key        = "xinlian/subject-key/1" || chain_id(32) || contract(20) || subject_commitment(32) || key_hash(32)
             || version(32)
All three are SM2-signed (default user ID) by the data subject; the SM2 precompile at 0x0a02 verifies them.
The subject commitment is SM3 over a salt and the subject's ID, computed off chain: no clear identifier
ever reaches the chain.

Subject tags (data minimisation)
--------------------------------
The commitment is the same for every grant about one person, and so is her bound key. Neither is shown in
what a grant's readers see: AccessRequested and AccessGranted (indexed, so the subject or the holder can
find a grant with one log query) and the grants() view carry the grant's subject tag instead,
subject_tag = keccak256("xinlian/grant-subject/1" || chain_id(32) || contract(20) || grant_id(32)
                       || subject_commitment(32))       (empty for non-personal data)
which differs for every grant, so grants about one person cannot be linked by their tags. Whoever knows the
commitment (the subject, the holder, the requester that named her) recomputes a grant's tag. The contract
keeps the commitment and the consenting key hash in storage (grant_records, not public) for its own
checks: the bound key, consent, revocation. consent_message and revocation_message return bytes that hold
the commitment, and the calls that carry the subject's key or commitment (request, grant,
revoke_by_subject, the key bindings) are the subject's data: the node's read policy shows them only to
their sender and the data regulator (docs/read-access.md).

Subject keys
------------
Nothing on chain can tell whose SM2 key a commitment belongs to, so two parties must vouch for a binding of
SM3(subject key) to a commitment before any personal-data grant for it:
- the data subject herself, signing the key message above WITH THE KEY BEING BOUND (proof of possession and
  her own request: nobody binds a key they do not hold, and no key is bound without its holder's signature);
- a DATA_REGULATOR (the accountable party that checked the person's identity off chain), who sends it.
`grant` accepts only consent signed by the bound key, and refuses it when the key was attested by the
holder's or the requester's organisation (a regulator that is also party to the request cannot vouch for
the consenting key: no organisation can bind its own key and then "consent" for the subject).
Rebinding (lost or compromised key, or a wrongly bound key) is supervised, four-eyes, and keeps history:
a DATA_REGULATOR proposes the new key with its own signature over the next version and a reason hash
(`propose_subject_key_rebind`); a DATA_REGULATOR of ANOTHER organisation confirms it
(`confirm_subject_key_rebind`). The old key hash stays in `subject_key_history` and in the
SubjectKeyRebound event. Grants consented by the old key stay in force; the subject can withdraw them with
either the consenting key or her currently bound key.
"""

interface IGovernance:
    def has_role(account: address, role: bytes32, scope: bytes32) -> bool: view
    def is_active_account(account: address) -> bool: view
    def organisation_of(account: address) -> String[18]: view

# --- roles (Governance's ids: keccak256 of the upper-case name) ---------------------------------------
DATA_REGULATOR: public(constant(bytes32)) = keccak256("DATA_REGULATOR")
DATA_HOLDER: public(constant(bytes32)) = keccak256("DATA_HOLDER")
DATA_USER: public(constant(bytes32)) = keccak256("DATA_USER")

# --- resource levels (数据安全法 art. 21) and share types ---------------------------------------------
LEVEL_GENERAL: public(constant(uint8)) = 1  # 一般数据
LEVEL_IMPORTANT: public(constant(uint8)) = 2  # 重要数据
LEVEL_CORE: public(constant(uint8)) = 3  # 核心数据: a DATA_REGULATOR approves each request
SHARE_UNCONDITIONAL: public(constant(uint8)) = 1  # 无条件共享
SHARE_CONDITIONAL: public(constant(uint8)) = 2  # 有条件共享: condition_hash names the condition
SHARE_NONE: public(constant(uint8)) = 3  # 不予共享: condition_hash names the legal basis

# --- request / grant status ----------------------------------------------------------------------------
STATUS_NONE: public(constant(uint8)) = 0
STATUS_REQUESTED: public(constant(uint8)) = 1
STATUS_APPROVED: public(constant(uint8)) = 2
STATUS_GRANTED: public(constant(uint8)) = 3
STATUS_REFUSED: public(constant(uint8)) = 4
STATUS_REVOKED: public(constant(uint8)) = 5
STATUS_EXPIRED: public(constant(uint8)) = 6

# --- precompiles (node/execution/precompiles.py) -------------------------------------------------------
SM3_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a01
SM2_VERIFY_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a02

CONSENT_TAG: constant(Bytes[17]) = b"xinlian/consent/1"
GRANT_SUBJECT_TAG: constant(Bytes[23]) = b"xinlian/grant-subject/1"
REVOCATION_TAG: constant(Bytes[24]) = b"xinlian/consent-revoke/1"
SUBJECT_KEY_TAG: constant(Bytes[21]) = b"xinlian/subject-key/1"
CONSENT_LEN: constant(uint256) = 345  # 17 + 10 fields (see the docstring)
REVOCATION_LEN: constant(uint256) = 140  # 24 + 32 + 20 + 32 + 32
SUBJECT_KEY_LEN: constant(uint256) = 169  # 21 + 32 + 20 + 32 + 32 + 32
GRANT_SUBJECT_LEN: constant(uint256) = 139  # 23 + 32 + 20 + 32 + 32
SM2_KEY_BYTES: constant(uint256) = 64
SM2_SIGNATURE_BYTES: constant(uint256) = 64


# --- types ---------------------------------------------------------------------------------------------
struct Resource:
    holder: String[18]  # USCC of the holding organisation (the registering account's)
    registrant: address
    level: uint8
    share_type: uint8
    schema_hash: bytes32
    condition_hash: bytes32  # condition (有条件共享) or basis (不予共享); empty for 无条件共享
    fields: uint256  # field-id bitmask
    personal: bool  # personal information: grants need the data subject's consent


struct Grant:
    resource_id: uint256
    requester: address
    requester_org: String[18]
    holder_org: String[18]
    purpose: bytes32
    fields: uint256
    valid_from: uint256
    valid_until: uint256
    use_limit: uint256
    uses: uint256
    status: uint8
    subject_commitment: bytes32  # salted SM3 of the subject's ID (personal data), else empty; never shown
    subject_key_hash: bytes32  # SM3 of the consenting subject's 64-byte SM2 public key; never shown
    approved_by: address  # the DATA_REGULATOR account (核心 data)
    granted_by: address
    requested_at: uint256
    granted_at: uint256


struct GrantView:
    # What grants() returns: the stored grant with its per-grant subject tag in place of the subject's
    # commitment and consenting key hash, which are the same for every grant about one person.
    resource_id: uint256
    requester: address
    requester_org: String[18]
    holder_org: String[18]
    purpose: bytes32
    fields: uint256
    valid_from: uint256
    valid_until: uint256
    use_limit: uint256
    uses: uint256
    status: uint8
    subject_tag: bytes32  # _subject_tag(grant_id, subject commitment); empty for non-personal data
    approved_by: address
    granted_by: address
    requested_at: uint256
    granted_at: uint256


struct SubjectKey:
    key_hash: bytes32  # SM3 of the subject's 64-byte SM2 public key (x||y); empty = none bound
    version: uint256  # 1 for the first binding, +1 per confirmed rebind
    attested_by: address  # the DATA_REGULATOR that bound (or proposed the rebind of) the key
    attester_org: String[18]
    confirmed_by: address  # the second DATA_REGULATOR of a rebind (empty for a first binding)
    confirmer_org: String[18]
    bound_at: uint256


struct RebindProposal:
    version: uint256  # the key version the new key signed (current version + 1); 0 = no proposal
    proposed_by: address
    proposer_org: String[18]
    reason_hash: bytes32
    proposed_at: uint256


# --- events (the use trail) ------------------------------------------------------------------------------
event ResourceRegistered:
    resource_id: indexed(uint256)
    registrant: indexed(address)
    holder: String[18]
    level: uint8
    share_type: uint8
    schema_hash: bytes32
    condition_hash: bytes32
    fields: uint256
    personal: bool

event ShareTypeChanged:
    resource_id: indexed(uint256)
    by: indexed(address)
    share_type: uint8
    condition_hash: bytes32

event AccessRequested:
    grant_id: indexed(uint256)
    resource_id: indexed(uint256)
    requester: indexed(address)
    requester_org: String[18]
    holder_org: String[18]
    purpose: bytes32
    fields: uint256
    valid_from: uint256
    valid_until: uint256
    use_limit: uint256
    subject_tag: bytes32

event RequestApproved:
    grant_id: indexed(uint256)
    regulator: indexed(address)

event RequestRefused:
    grant_id: indexed(uint256)
    by: indexed(address)
    reason_hash: bytes32

event AccessGranted:
    grant_id: indexed(uint256)
    resource_id: indexed(uint256)
    subject_tag: indexed(bytes32)
    granted_by: address

event UseRecorded:
    grant_id: indexed(uint256)
    recorded_by: indexed(address)
    use_number: uint256
    fields: uint256
    result_digest: bytes32
    timestamp: uint256

event GrantRevoked:
    grant_id: indexed(uint256)
    by: indexed(address)
    by_subject: bool
    reason_hash: bytes32

event GrantExpired:
    grant_id: indexed(uint256)
    by: indexed(address)

event SubjectKeyBound:
    subject_commitment: indexed(bytes32)
    key_hash: bytes32
    by: address
    attester_org: String[18]
    version: uint256

event SubjectKeyRebindProposed:
    subject_commitment: indexed(bytes32)
    key_hash: indexed(bytes32)
    previous_key_hash: bytes32
    version: uint256
    proposed_by: address
    reason_hash: bytes32

event SubjectKeyRebound:
    subject_commitment: indexed(bytes32)
    key_hash: indexed(bytes32)
    previous_key_hash: bytes32
    version: uint256
    proposed_by: address
    confirmed_by: address
    reason_hash: bytes32


# --- state ---------------------------------------------------------------------------------------------
initialized: public(bool)
governance: public(address)
resources: public(HashMap[uint256, Resource])
resource_count: public(uint256)
grant_records: HashMap[uint256, Grant]  # read with grants(): it shows the subject tag, not the commitment
grant_count: public(uint256)
subject_keys: public(HashMap[bytes32, SubjectKey])  # subject commitment -> its current key binding
subject_key_history: public(HashMap[bytes32, HashMap[uint256, bytes32]])  # commitment -> version -> key hash
rebind_proposals: public(HashMap[bytes32, HashMap[bytes32, RebindProposal]])  # commitment -> new key hash


# --- genesis -------------------------------------------------------------------------------------------
@external
def initialize(governance: address):
    """
    @notice Genesis set-up, callable exactly once: the Governance contract that answers role questions.
    """
    assert not self.initialized, "already initialized"
    assert governance != empty(address), "zero governance address"
    self.initialized = True
    self.governance = governance


# --- views ---------------------------------------------------------------------------------------------
@view
@internal
def _status_of(grant_id: uint256) -> uint8:
    g: Grant = self.grant_records[grant_id]
    if g.status == STATUS_GRANTED and block.timestamp >= g.valid_until:
        return STATUS_EXPIRED
    return g.status


@view
@internal
def _subject_tag(grant_id: uint256, subject_commitment: bytes32) -> bytes32:
    # The per-grant subject tag (see the docstring); empty when the grant names no data subject.
    if subject_commitment == empty(bytes32):
        return empty(bytes32)
    preimage: Bytes[GRANT_SUBJECT_LEN] = concat(
        GRANT_SUBJECT_TAG,
        convert(chain.id, bytes32),
        convert(self, bytes20),
        convert(grant_id, bytes32),
        subject_commitment,
    )
    return keccak256(preimage)


@view
@external
def grants(grant_id: uint256) -> GrantView:
    """
    @notice A request / grant as stored (status not adjusted for expiry: see status_of), naming its data
            subject only by the grant's subject tag (empty status = no such id).
    """
    g: Grant = self.grant_records[grant_id]
    return GrantView(
        resource_id=g.resource_id,
        requester=g.requester,
        requester_org=g.requester_org,
        holder_org=g.holder_org,
        purpose=g.purpose,
        fields=g.fields,
        valid_from=g.valid_from,
        valid_until=g.valid_until,
        use_limit=g.use_limit,
        uses=g.uses,
        status=g.status,
        subject_tag=self._subject_tag(grant_id, g.subject_commitment),
        approved_by=g.approved_by,
        granted_by=g.granted_by,
        requested_at=g.requested_at,
        granted_at=g.granted_at,
    )


@view
@external
def status_of(grant_id: uint256) -> uint8:
    """
    @notice The request / grant status, with EXPIRED derived from the period (0 = no such id).
    """
    return self._status_of(grant_id)


@view
@external
def can_use(grant_id: uint256, fields: uint256) -> bool:
    """
    @notice True when `record_use(grant_id, fields, …)` would pass the grant's own checks now (status,
            period, use limit, fields, share type); the sender's role is not checked.
    """
    g: Grant = self.grant_records[grant_id]
    if g.status != STATUS_GRANTED:
        return False
    if block.timestamp < g.valid_from or block.timestamp >= g.valid_until:
        return False
    if g.uses >= g.use_limit:
        return False
    if fields == 0 or fields & ~g.fields != 0:
        return False
    return self.resources[g.resource_id].share_type != SHARE_NONE


@view
@external
def consent_message(grant_id: uint256) -> Bytes[CONSENT_LEN]:
    """
    @notice The exact bytes a data subject signs to consent to request `grant_id` (for cross-checks:
            the SDK builds them independently from what the subject was shown).
    """
    assert self.grant_records[grant_id].status != STATUS_NONE, "unknown request"
    return self._consent_message(grant_id)


@view
@external
def revocation_message(grant_id: uint256) -> Bytes[REVOCATION_LEN]:
    """
    @notice The exact bytes a data subject signs to withdraw consent for grant `grant_id`.
    """
    assert self.grant_records[grant_id].status != STATUS_NONE, "unknown request"
    return self._revocation_message(grant_id)


@view
@external
def subject_key_message(
    subject_commitment: bytes32, key_hash: bytes32, version: uint256
) -> Bytes[SUBJECT_KEY_LEN]:
    """
    @notice The exact bytes a data subject signs, with the key whose SM3 is `key_hash`, to have it bound to
            `subject_commitment` as key version `version` (1 for the first binding, current + 1 for a rebind).
    """
    return self._subject_key_message(subject_commitment, key_hash, version)


@view
@internal
def _subject_key_message(
    subject_commitment: bytes32, key_hash: bytes32, version: uint256
) -> Bytes[SUBJECT_KEY_LEN]:
    return concat(
        SUBJECT_KEY_TAG,
        convert(chain.id, bytes32),
        convert(self, bytes20),
        subject_commitment,
        key_hash,
        convert(version, bytes32),
    )


@view
@internal
def _consent_message(grant_id: uint256) -> Bytes[CONSENT_LEN]:
    g: Grant = self.grant_records[grant_id]
    return concat(
        CONSENT_TAG,
        convert(chain.id, bytes32),
        convert(self, bytes20),
        convert(grant_id, bytes32),
        convert(g.resource_id, bytes32),
        convert(g.requester, bytes20),
        g.subject_commitment,
        g.purpose,
        convert(g.fields, bytes32),
        convert(g.valid_from, bytes32),
        convert(g.valid_until, bytes32),
        convert(g.use_limit, bytes32),
    )


@view
@internal
def _revocation_message(grant_id: uint256) -> Bytes[REVOCATION_LEN]:
    return concat(
        REVOCATION_TAG,
        convert(chain.id, bytes32),
        convert(self, bytes20),
        convert(grant_id, bytes32),
        self.grant_records[grant_id].subject_commitment,
    )


# --- precompile calls ----------------------------------------------------------------------------------
@view
@internal
def _sm3_of_key(public_key: Bytes[SM2_KEY_BYTES]) -> bytes32:
    out: Bytes[32] = raw_call(SM3_PRECOMPILE, public_key, max_outsize=32, is_static_call=True)
    assert len(out) == 32, "SM3 precompile unavailable"
    return extract32(out, 0)


@view
@internal
def _is_valid_sm2(
    public_key: Bytes[SM2_KEY_BYTES], signature: Bytes[SM2_SIGNATURE_BYTES], message: Bytes[CONSENT_LEN]
) -> bool:
    # The precompile never reverts: a 32-byte word 1 means valid; anything else (incl. no precompile) is not.
    out: Bytes[32] = raw_call(
        SM2_VERIFY_PRECOMPILE, concat(public_key, signature, message), max_outsize=32, is_static_call=True
    )
    if len(out) != 32:
        return False
    return extract32(out, 0, output_type=uint256) == 1


# --- role checks ---------------------------------------------------------------------------------------
@view
@internal
def _has_role(account: address, role: bytes32) -> bool:
    return staticcall IGovernance(self.governance).has_role(account, role, empty(bytes32))


@view
@internal
def _organisation_of(account: address) -> String[18]:
    return staticcall IGovernance(self.governance).organisation_of(account)


@view
@internal
def _check_member(account: address):
    assert staticcall IGovernance(self.governance).is_active_account(account), "not an active member account"


@view
@internal
def _check_regulator(account: address):
    assert self._has_role(account, DATA_REGULATOR), "not a data regulator"


@view
@internal
def _check_holder(account: address, holder_org: String[18]):
    assert self._has_role(account, DATA_HOLDER), "not a data holder"
    assert self._organisation_of(account) == holder_org, "not an account of the holder organisation"


@view
@internal
def _check_pending(grant_id: uint256) -> Grant:
    g: Grant = self.grant_records[grant_id]
    assert g.status != STATUS_NONE, "unknown request"
    assert g.status == STATUS_REQUESTED or g.status == STATUS_APPROVED, "request is not pending"
    return g


@pure
@internal
def _check_in_force(status: uint8):
    assert status != STATUS_NONE, "unknown grant"
    assert status != STATUS_REVOKED, "grant revoked"
    assert status != STATUS_EXPIRED, "grant expired"
    assert status == STATUS_GRANTED, "grant is not in force"


@view
@internal
def _check_granted(grant_id: uint256) -> Grant:
    g: Grant = self.grant_records[grant_id]
    self._check_in_force(g.status)
    return g


# --- resources -----------------------------------------------------------------------------------------
@internal
def _validate_share(share_type: uint8, condition_hash: bytes32):
    assert share_type >= SHARE_UNCONDITIONAL and share_type <= SHARE_NONE, "share type must be 1, 2 or 3"
    if share_type == SHARE_UNCONDITIONAL:
        assert condition_hash == empty(bytes32), "unconditional sharing takes no condition"
    elif share_type == SHARE_CONDITIONAL:
        assert condition_hash != empty(bytes32), "conditional sharing needs a condition hash"
    else:
        assert condition_hash != empty(bytes32), "no-sharing needs a basis hash"


@external
def register_resource(
    level: uint8,
    share_type: uint8,
    schema_hash: bytes32,
    condition_hash: bytes32,
    fields: uint256,
    personal: bool,
) -> uint256:
    """
    @notice List a data resource held by the sender's organisation (sender needs DATA_HOLDER).
    @return the resource id (1, 2, ...)
    """
    assert self._has_role(msg.sender, DATA_HOLDER), "not a data holder"
    assert level >= LEVEL_GENERAL and level <= LEVEL_CORE, "level must be 1, 2 or 3"
    self._validate_share(share_type, condition_hash)
    assert schema_hash != empty(bytes32), "empty schema hash"
    assert fields != 0, "a resource needs at least one field"
    holder: String[18] = self._organisation_of(msg.sender)
    resource_id: uint256 = self.resource_count + 1
    self.resource_count = resource_id
    self.resources[resource_id] = Resource(
        holder=holder,
        registrant=msg.sender,
        level=level,
        share_type=share_type,
        schema_hash=schema_hash,
        condition_hash=condition_hash,
        fields=fields,
        personal=personal,
    )
    log ResourceRegistered(
        resource_id=resource_id,
        registrant=msg.sender,
        holder=holder,
        level=level,
        share_type=share_type,
        schema_hash=schema_hash,
        condition_hash=condition_hash,
        fields=fields,
        personal=personal,
    )
    return resource_id


@external
def set_share_type(resource_id: uint256, share_type: uint8, condition_hash: bytes32):
    """
    @notice Reclassify a resource's share type (holder). While it is 不予共享 nothing is granted or used.
    """
    r: Resource = self.resources[resource_id]
    assert r.level != 0, "unknown resource"
    self._check_holder(msg.sender, r.holder)
    self._validate_share(share_type, condition_hash)
    self.resources[resource_id].share_type = share_type
    self.resources[resource_id].condition_hash = condition_hash
    log ShareTypeChanged(
        resource_id=resource_id, by=msg.sender, share_type=share_type, condition_hash=condition_hash
    )


# --- subject keys --------------------------------------------------------------------------------------
@view
@internal
def _check_subject_key_signature(
    subject_commitment: bytes32,
    subject_public_key: Bytes[SM2_KEY_BYTES],
    signature: Bytes[SM2_SIGNATURE_BYTES],
    version: uint256,
) -> bytes32:
    # The key being bound signs its own binding: proof that its holder asks for it (and holds it).
    assert len(subject_public_key) == SM2_KEY_BYTES, "subject public key must be 64 bytes"
    assert len(signature) == SM2_SIGNATURE_BYTES, "subject key signature must be 64 bytes"
    key_hash: bytes32 = self._sm3_of_key(subject_public_key)
    message: Bytes[SUBJECT_KEY_LEN] = self._subject_key_message(subject_commitment, key_hash, version)
    assert self._is_valid_sm2(subject_public_key, signature, message), "subject key signature is invalid"
    return key_hash


@external
def bind_subject_key(
    subject_commitment: bytes32, subject_public_key: Bytes[SM2_KEY_BYTES], signature: Bytes[SM2_SIGNATURE_BYTES]
):
    """
    @notice A DATA_REGULATOR, having checked the person's identity off chain, binds her SM2 key (64 bytes x||y)
            to `subject_commitment`. `signature` is the subject's own, by that key, over
            `subject_key_message(subject_commitment, SM3(key), 1)`. Needed before any personal-data grant for
            the commitment. A bound key is replaced only by the supervised rebind (propose + confirm).
    """
    self._check_regulator(msg.sender)
    assert subject_commitment != empty(bytes32), "empty subject commitment"
    assert self.subject_keys[subject_commitment].key_hash == empty(bytes32), "subject key already bound"
    key_hash: bytes32 = self._check_subject_key_signature(subject_commitment, subject_public_key, signature, 1)
    attester_org: String[18] = self._organisation_of(msg.sender)
    self.subject_keys[subject_commitment] = SubjectKey(
        key_hash=key_hash,
        version=1,
        attested_by=msg.sender,
        attester_org=attester_org,
        confirmed_by=empty(address),
        confirmer_org="",
        bound_at=block.timestamp,
    )
    self.subject_key_history[subject_commitment][1] = key_hash
    log SubjectKeyBound(
        subject_commitment=subject_commitment,
        key_hash=key_hash,
        by=msg.sender,
        attester_org=attester_org,
        version=1,
    )


@external
def propose_subject_key_rebind(
    subject_commitment: bytes32,
    subject_public_key: Bytes[SM2_KEY_BYTES],
    signature: Bytes[SM2_SIGNATURE_BYTES],
    reason_hash: bytes32,
):
    """
    @notice First step of a supervised rebind (lost, compromised or wrongly bound key): a DATA_REGULATOR
            proposes the subject's new key, signed by that key over
            `subject_key_message(subject_commitment, SM3(new key), current version + 1)`, with the hash of the
            reason (e.g. of the case file). Takes effect only when a regulator of another organisation
            confirms it (`confirm_subject_key_rebind`).
    """
    self._check_regulator(msg.sender)
    current: SubjectKey = self.subject_keys[subject_commitment]
    assert current.key_hash != empty(bytes32), "subject key not bound"
    assert reason_hash != empty(bytes32), "a rebind needs a reason hash"
    version: uint256 = current.version + 1
    key_hash: bytes32 = self._check_subject_key_signature(
        subject_commitment, subject_public_key, signature, version
    )
    assert key_hash != current.key_hash, "key already bound to the commitment"
    # a pending proposal keeps its proposer and reason: nobody re-proposes it under their own name
    assert self.rebind_proposals[subject_commitment][key_hash].version != version, "rebind already proposed"
    self.rebind_proposals[subject_commitment][key_hash] = RebindProposal(
        version=version,
        proposed_by=msg.sender,
        proposer_org=self._organisation_of(msg.sender),
        reason_hash=reason_hash,
        proposed_at=block.timestamp,
    )
    log SubjectKeyRebindProposed(
        subject_commitment=subject_commitment,
        key_hash=key_hash,
        previous_key_hash=current.key_hash,
        version=version,
        proposed_by=msg.sender,
        reason_hash=reason_hash,
    )


@external
def confirm_subject_key_rebind(subject_commitment: bytes32, key_hash: bytes32):
    """
    @notice Second step of a supervised rebind: a DATA_REGULATOR of another organisation than the proposer's
            confirms the proposal for `key_hash`; the new key replaces the old one, whose hash stays in
            `subject_key_history` and in the SubjectKeyRebound event. A proposal made for an older version
            (another rebind was confirmed since) is stale and refused.
    """
    self._check_regulator(msg.sender)
    proposal: RebindProposal = self.rebind_proposals[subject_commitment][key_hash]
    assert proposal.version != 0, "no such rebind proposal"
    current: SubjectKey = self.subject_keys[subject_commitment]
    assert proposal.version == current.version + 1, "rebind proposal is stale"
    confirmer_org: String[18] = self._organisation_of(msg.sender)
    assert confirmer_org != proposal.proposer_org, "a rebind needs a regulator of another organisation"
    self.subject_keys[subject_commitment] = SubjectKey(
        key_hash=key_hash,
        version=proposal.version,
        attested_by=proposal.proposed_by,
        attester_org=proposal.proposer_org,
        confirmed_by=msg.sender,
        confirmer_org=confirmer_org,
        bound_at=block.timestamp,
    )
    self.subject_key_history[subject_commitment][proposal.version] = key_hash
    self.rebind_proposals[subject_commitment][key_hash] = empty(RebindProposal)
    log SubjectKeyRebound(
        subject_commitment=subject_commitment,
        key_hash=key_hash,
        previous_key_hash=current.key_hash,
        version=proposal.version,
        proposed_by=proposal.proposed_by,
        confirmed_by=msg.sender,
        reason_hash=proposal.reason_hash,
    )


# --- requests ------------------------------------------------------------------------------------------
@external
def request(
    resource_id: uint256,
    purpose: bytes32,
    fields: uint256,
    valid_from: uint256,
    valid_until: uint256,
    use_limit: uint256,
    subject_commitment: bytes32,
    condition_hash: bytes32,
) -> uint256:
    """
    @notice Request access to `fields` of a resource for `purpose` during [valid_from, valid_until) and at
            most `use_limit` uses (sender needs DATA_USER). Personal data names the subject by commitment;
            a conditional resource's condition must be acknowledged by its hash.
    @return the request id, which becomes the grant id
    """
    assert self._has_role(msg.sender, DATA_USER), "not a data user"
    r: Resource = self.resources[resource_id]
    assert r.level != 0, "unknown resource"
    assert r.share_type != SHARE_NONE, "resource is not shared (share type 3)"
    assert condition_hash == r.condition_hash, "the resource's sharing condition is not acknowledged"
    assert purpose != empty(bytes32), "empty purpose"
    assert fields != 0, "no fields requested"
    assert fields & ~r.fields == 0, "fields outside the resource"
    assert valid_from < valid_until, "empty period"
    assert valid_until > block.timestamp, "period already over"
    assert use_limit > 0, "use limit must be positive"
    if r.personal:
        assert subject_commitment != empty(bytes32), "personal data needs a subject commitment"
    else:
        assert subject_commitment == empty(bytes32), "non-personal data takes no subject commitment"
    requester_org: String[18] = self._organisation_of(msg.sender)
    grant_id: uint256 = self.grant_count + 1
    self.grant_count = grant_id
    self.grant_records[grant_id] = Grant(
        resource_id=resource_id,
        requester=msg.sender,
        requester_org=requester_org,
        holder_org=r.holder,
        purpose=purpose,
        fields=fields,
        valid_from=valid_from,
        valid_until=valid_until,
        use_limit=use_limit,
        uses=0,
        status=STATUS_REQUESTED,
        subject_commitment=subject_commitment,
        subject_key_hash=empty(bytes32),
        approved_by=empty(address),
        granted_by=empty(address),
        requested_at=block.timestamp,
        granted_at=0,
    )
    log AccessRequested(
        grant_id=grant_id,
        resource_id=resource_id,
        requester=msg.sender,
        requester_org=requester_org,
        holder_org=r.holder,
        purpose=purpose,
        fields=fields,
        valid_from=valid_from,
        valid_until=valid_until,
        use_limit=use_limit,
        subject_tag=self._subject_tag(grant_id, subject_commitment),
    )
    return grant_id


@external
def approve(grant_id: uint256):
    """
    @notice A DATA_REGULATOR approves a pending request for 核心 data, before the holder may grant it.
            Separation of duties: a regulator of the requesting or of the holding organisation may not
            approve (no party approves its own request or its own grant).
    """
    g: Grant = self._check_pending(grant_id)
    self._check_regulator(msg.sender)
    assert self.resources[g.resource_id].level == LEVEL_CORE, "only core data needs approval"
    assert g.status == STATUS_REQUESTED, "request already approved"
    regulator_org: String[18] = self._organisation_of(msg.sender)
    assert regulator_org != g.requester_org, "a regulator cannot approve its own request"
    assert regulator_org != g.holder_org, "a regulator of the holder organisation cannot approve"
    self.grant_records[grant_id].status = STATUS_APPROVED
    self.grant_records[grant_id].approved_by = msg.sender
    log RequestApproved(grant_id=grant_id, regulator=msg.sender)


@external
def refuse(grant_id: uint256, reason_hash: bytes32):
    """
    @notice Refuse a pending request: the holder, or for 核心 data also a DATA_REGULATOR.
    """
    g: Grant = self._check_pending(grant_id)
    if not (
        self.resources[g.resource_id].level == LEVEL_CORE and self._has_role(msg.sender, DATA_REGULATOR)
    ):
        self._check_holder(msg.sender, g.holder_org)
    self.grant_records[grant_id].status = STATUS_REFUSED
    log RequestRefused(grant_id=grant_id, by=msg.sender, reason_hash=reason_hash)


# --- grants --------------------------------------------------------------------------------------------
@external
def grant(
    grant_id: uint256, subject_public_key: Bytes[SM2_KEY_BYTES], consent_signature: Bytes[SM2_SIGNATURE_BYTES]
):
    """
    @notice The holder grants a pending request. Personal data needs the data subject's SM2 signature over
            `consent_message(grant_id)` with `subject_public_key` (64 bytes x||y), which must be the key bound
            to the subject commitment (`bind_subject_key`) by regulators of neither the holder's nor the
            requester's organisation; SM3 of that key is stored with the grant so that the same key (or the
            subject's currently bound key) can later withdraw consent. Other data takes empty bytes.
    """
    g: Grant = self._check_pending(grant_id)
    self._check_holder(msg.sender, g.holder_org)
    r: Resource = self.resources[g.resource_id]
    assert r.share_type != SHARE_NONE, "resource is not shared (share type 3)"
    if r.level == LEVEL_CORE:
        assert g.status == STATUS_APPROVED, "core data needs regulator approval first"
    assert block.timestamp < g.valid_until, "request period has ended"
    key_hash: bytes32 = empty(bytes32)
    if r.personal:
        assert len(subject_public_key) == SM2_KEY_BYTES, "subject public key must be 64 bytes"
        assert len(consent_signature) == SM2_SIGNATURE_BYTES, "consent signature must be 64 bytes"
        bound: SubjectKey = self.subject_keys[g.subject_commitment]
        assert bound.key_hash != empty(bytes32), "subject key not bound"
        assert (
            bound.attester_org != g.holder_org and bound.confirmer_org != g.holder_org
        ), "subject key attested by the holder organisation"
        assert (
            bound.attester_org != g.requester_org and bound.confirmer_org != g.requester_org
        ), "subject key attested by the requesting organisation"
        key_hash = self._sm3_of_key(subject_public_key)
        assert key_hash == bound.key_hash, "consent key is not the subject's bound key"
        assert self._is_valid_sm2(
            subject_public_key, consent_signature, self._consent_message(grant_id)
        ), "subject consent signature is invalid"
    else:
        assert len(subject_public_key) == 0 and len(consent_signature) == 0, "non-personal data takes no consent"
    self.grant_records[grant_id].status = STATUS_GRANTED
    self.grant_records[grant_id].subject_key_hash = key_hash
    self.grant_records[grant_id].granted_by = msg.sender
    self.grant_records[grant_id].granted_at = block.timestamp
    log AccessGranted(
        grant_id=grant_id,
        resource_id=g.resource_id,
        subject_tag=self._subject_tag(grant_id, g.subject_commitment),
        granted_by=msg.sender,
    )


@external
def record_use(grant_id: uint256, fields: uint256, result_digest: bytes32) -> uint256:
    """
    @notice Record one use of a grant: `fields` read, `result_digest` = SM3 of what was returned. Sent by
            the holder organisation (DATA_HOLDER) that served it or by the requesting account. Refused
            outside the period, the fields or the use limit, after revocation, or while 不予共享.
    @return the use number (1, 2, ...)
    """
    # The hot path reads only the members it needs (a whole Grant is ~20 storage slots).
    self._check_in_force(self.grant_records[grant_id].status)
    if msg.sender != self.grant_records[grant_id].requester:
        self._check_holder(msg.sender, self.grant_records[grant_id].holder_org)
    assert block.timestamp >= self.grant_records[grant_id].valid_from, "grant not yet valid"
    assert block.timestamp < self.grant_records[grant_id].valid_until, "grant expired"
    uses: uint256 = self.grant_records[grant_id].uses
    assert uses < self.grant_records[grant_id].use_limit, "use limit reached"
    assert fields != 0, "no fields used"
    assert fields & ~self.grant_records[grant_id].fields == 0, "fields outside the grant"
    assert result_digest != empty(bytes32), "empty result digest"
    resource_id: uint256 = self.grant_records[grant_id].resource_id
    assert self.resources[resource_id].share_type != SHARE_NONE, "resource is not shared (share type 3)"
    use_number: uint256 = uses + 1
    self.grant_records[grant_id].uses = use_number
    log UseRecorded(
        grant_id=grant_id,
        recorded_by=msg.sender,
        use_number=use_number,
        fields=fields,
        result_digest=result_digest,
        timestamp=block.timestamp,
    )
    return use_number


@external
def revoke(grant_id: uint256, reason_hash: bytes32):
    """
    @notice The holder revokes a grant in force (no retroactive effect: recorded uses stay).
    """
    g: Grant = self._check_granted(grant_id)
    self._check_holder(msg.sender, g.holder_org)
    self.grant_records[grant_id].status = STATUS_REVOKED
    log GrantRevoked(grant_id=grant_id, by=msg.sender, by_subject=False, reason_hash=reason_hash)


@external
def revoke_by_subject(
    grant_id: uint256, subject_public_key: Bytes[SM2_KEY_BYTES], signature: Bytes[SM2_SIGNATURE_BYTES]
):
    """
    @notice The data subject withdraws consent (PIPL art. 15): `signature` over `revocation_message(grant_id)`
            by the key that consented or by the key bound to her commitment now (after a rebind). Any member
            account may relay it. A replay finds the grant already revoked and is refused.
    """
    self._check_member(msg.sender)
    g: Grant = self._check_granted(grant_id)
    assert g.subject_key_hash != empty(bytes32), "grant has no data subject"
    assert len(subject_public_key) == SM2_KEY_BYTES, "subject public key must be 64 bytes"
    assert len(signature) == SM2_SIGNATURE_BYTES, "revocation signature must be 64 bytes"
    key_hash: bytes32 = self._sm3_of_key(subject_public_key)
    assert (
        key_hash == g.subject_key_hash or key_hash == self.subject_keys[g.subject_commitment].key_hash
    ), "not the consenting subject's key"
    message: Bytes[CONSENT_LEN] = self._revocation_message(grant_id)
    assert self._is_valid_sm2(subject_public_key, signature, message), "subject revocation signature is invalid"
    self.grant_records[grant_id].status = STATUS_REVOKED
    log GrantRevoked(grant_id=grant_id, by=msg.sender, by_subject=True, reason_hash=empty(bytes32))


@external
def expire(grant_id: uint256):
    """
    @notice Mark a grant whose period is over as EXPIRED (any member; `status_of` derives it without this).
    """
    self._check_member(msg.sender)
    g: Grant = self.grant_records[grant_id]
    assert g.status == STATUS_GRANTED, "grant is not in force"
    assert block.timestamp >= g.valid_until, "grant period not over"
    self.grant_records[grant_id].status = STATUS_EXPIRED
    log GrantExpired(grant_id=grant_id, by=msg.sender)
