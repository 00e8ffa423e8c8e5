# pragma version 0.4.3
# pragma evm-version prague
"""
@title Xinlian LicenceRegistry: e-licence (电子证照) types, issuance, lifecycle, annotations and uses
@notice Installed at genesis at 0x0000000000000000000000000000000000001001 and initialised once with the
        Governance address. Every transition emits an event whose first indexed argument is the licence's
        id hash: the event log is the licence's history.

Identifiers and hashes (all SM3, through the precompile at 0x…0a01)
-----------------------------------------------------------------
* type_id    = SM3(21-character 证照类型代码, ASCII). Also the Governance scope of ISSUER grants.
* id_hash    = SM3(GB/T 36904 identifier, normalised upper-case ASCII), computed here: issue and renew
               receive the identifier itself (it names no person: type code, issuer code, serial, version)
               and check it (root, segments, 0-9/A-Z, MOD 37,36 check character) and that it names its
               type and its issuer: the type code is the licence's type and the issuer code is the USCC
               of the issuing organisation. A region-coded issuer segment names no organisation, so it is
               refused. No issuer can take (pre-issue) an identifier of another organisation or type.
* holder_commitment = SM3(salt(32) ‖ holder code type ("111" resident ID | "001" USCC) ‖ holder code),
               made by the SDK; the salt stays with the holder's credential file. No personal data here.
               The chain sees only the commitment, so the salt's quality (32 CSPRNG bytes) is the SDK's
               to enforce; the contract refuses only an empty commitment.
* holder_key_hash   = SM3(holder SM2 public key x‖y, 64 bytes) or empty: binds the key whose signature
               a use record (用证) needs. The key itself appears only in a use record's call data.

Who may do what
---------------
* define_type: an active account holding LICENCE_AUTHORITY (for the type's scope or globally) whose
  organisation's USCC is the first 18 characters of the type code (checked here on chain).
* Issuers are authorised per type by Governance.grant_role(account, ISSUER, type_id) (LICENCE_AUTHORITY
  administers ISSUER in Governance); issue needs has_role(sender, ISSUER, type_id), type_id being the
  SM3 of the identifier's type code, and the identifier's issuer code must be the sender's organisation.
* suspend / resume / revoke / annotate: an active account of the issuing organisation.
* renew / bind_holder_key: an active account of the issuing organisation that holds ISSUER for the
  licence's type (Governance scope type_id). Binding the holder key decides whose signature counts as
  the holder's consent, so it is an issuer's act; HolderKeyBound records the key hash it replaces.
* record_use: any active account (the relying party), with the holder's SM2-signed consent.

Status codes (status, status_at)
--------------------------------
0 UNKNOWN, 1 VALID, 2 NOT_YET_VALID, 3 EXPIRED, 4 SUSPENDED, 5 REVOKED, 6 SUPERSEDED.
Validity is valid_from <= t <= valid_until (unix seconds; valid_until 0 = no end date, 长期).
status_at(t) applies revocation and supersession from their times, and a suspension from its start while it
lasts (suspensions that ended are in the history, not in status_at).

Use consent (用证)
-----------------
The holder signs, with SM2 (default user ID, Z_A), the message
  CONSENT_TAG ‖ chain_id (32) ‖ registry address (20) ‖ id_hash (32) ‖ user (20) ‖ purpose_hash (32) ‖
  nonce (32) ‖ not_after (32)
(fixed-width big-endian, see consent_message). chain_id is the CHAINID opcode (the node's chain id). A
consent is valid for one (id_hash, nonce), for the named user only, until not_after (unix seconds).
"""

interface IGovernance:
    def has_role(account: address, role: bytes32, scope: bytes32) -> bool: view
    def is_active_account(account: address) -> bool: view
    def organisation_of(account: address) -> String[18]: view

SM3_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a01
SM2_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a02

# Governance role ids (keccak256 of the upper-case name, Governance's convention)
LICENCE_AUTHORITY: constant(bytes32) = keccak256("LICENCE_AUTHORITY")
ISSUER: constant(bytes32) = keccak256("ISSUER")

CONSENT_TAG: public(constant(Bytes[21])) = b"xinlian/licence-use/1"
CONSENT_MESSAGE_BYTES: constant(uint256) = 221  # 21 + 32 + 20 + 32 + 20 + 32 + 32 + 32

TYPE_CODE_LENGTH: constant(uint256) = 21
USCC_LENGTH: constant(uint256) = 18

# GB/T 36904 identifier: ROOT type(21) "." issuer(18: a USCC) "." serial(1-32) "." version(3) "." check(1)
LICENCE_ID_ROOT: constant(String[15]) = "1.2.156.3005.2."
MAX_LICENCE_ID: constant(uint256) = 94  # 15 + 21 + 1 + 18 + 1 + 32 + 1 + 3 + 1 + 1
MIN_LICENCE_ID: constant(uint256) = 63  # a one-character serial
ID_TYPE_AT: constant(uint256) = 15
ID_ISSUER_AT: constant(uint256) = 37  # after the type code and its dot
ID_SERIAL_AT: constant(uint256) = 56  # after the issuer code and its dot
ASCII_DOT: constant(uint256) = 46
NOT_ALNUM: constant(uint256) = 36
#: Byte-wise constants for checking up to 32 characters at once: 1, the high bit, and "0" in every byte.
BYTE_ONES: constant(uint256) = max_value(uint256) // 255
BYTE_HIGH_BITS: constant(uint256) = BYTE_ONES * 128
BYTE_ZEROS: constant(uint256) = BYTE_ONES * 48
TYPE_CODE_DOT_SHIFT: constant(uint256) = 8 * (31 - TYPE_CODE_LENGTH)  # the dot after the type code
ISSUER_CODE_DOT_SHIFT: constant(uint256) = 8 * (31 - USCC_LENGTH)  # the dot after the issuer code
MIN_JURISDICTION_LENGTH: constant(uint256) = 6
MAX_REASON: constant(uint256) = 256
MAX_TIME: constant(uint256) = 2**64 - 1
TIME_MASK: constant(uint256) = 2**64 - 1

STATUS_UNKNOWN: public(constant(uint8)) = 0
STATUS_VALID: public(constant(uint8)) = 1
STATUS_NOT_YET_VALID: public(constant(uint8)) = 2
STATUS_EXPIRED: public(constant(uint8)) = 3
STATUS_SUSPENDED: public(constant(uint8)) = 4
STATUS_REVOKED: public(constant(uint8)) = 5
STATUS_SUPERSEDED: public(constant(uint8)) = 6

# --- types ---------------------------------------------------------------------------------------------
struct LicenceType:
    type_code: String[21]
    name: String[128]
    authority: address  # the defining account
    authority_org: String[18]  # its organisation: the USCC inside the type code
    defined: bool

struct Licence:
    # Stored form, kept to few words: each written storage slot costs a state-trie update per licence.
    type_id: bytes32
    holder_commitment: bytes32
    holder_key_hash: bytes32  # empty: no use records possible until one is bound
    document_hash: bytes32  # SM3 of the licence document (e.g. the OFD file)
    issuer: address  # the issuing account; its organisation is Governance.organisation_of(issuer)
    window: uint256  # valid_from | valid_until << 64 (unix seconds; valid_until 0 = no end date)
    lifecycle: uint256  # state | suspended_since << 64 | ended_at << 128 (state: STATUS_* ; 0 = none)
    jurisdiction: bytes12  # 所属管辖属地编码, ASCII digits, zero-padded
    previous: bytes32  # the licence this one renews
    next: bytes32  # the licence that renews this one
    annotations: uint256  # number of 加注件
    uses: uint256  # number of use records

struct LicenceView:
    # What get_licence returns: the stored licence unpacked, with its issuer's organisation.
    type_id: bytes32
    issuer: address
    issuer_org: String[18]
    holder_commitment: bytes32
    holder_key_hash: bytes32
    document_hash: bytes32
    valid_from: uint256
    valid_until: uint256
    jurisdiction: bytes12
    state: uint8
    suspended_since: uint256
    ended_at: uint256
    previous: bytes32
    next: bytes32
    annotations: uint256
    uses: uint256

# --- events (the history) ------------------------------------------------------------------------------
event LicenceTypeDefined:
    type_id: indexed(bytes32)
    authority: indexed(address)
    type_code: String[21]
    name: String[128]
    authority_org: String[18]

event LicenceIssued:
    id_hash: indexed(bytes32)
    type_id: indexed(bytes32)
    issuer: indexed(address)
    issuer_org: String[18]
    holder_commitment: bytes32
    holder_key_hash: bytes32
    document_hash: bytes32
    valid_from: uint256
    valid_until: uint256
    jurisdiction: String[12]
    previous: bytes32

event LicenceSuspended:
    id_hash: indexed(bytes32)
    by: indexed(address)
    reason: String[MAX_REASON]

event LicenceResumed:
    id_hash: indexed(bytes32)
    by: indexed(address)
    reason: String[MAX_REASON]

event LicenceRevoked:
    id_hash: indexed(bytes32)
    by: indexed(address)
    reason: String[MAX_REASON]

event LicenceRenewed:
    id_hash: indexed(bytes32)
    new_id_hash: indexed(bytes32)
    by: indexed(address)

event LicenceAnnotated:
    id_hash: indexed(bytes32)
    by: indexed(address)
    index: uint256
    annotation_hash: bytes32
    reason: String[MAX_REASON]
    valid_from: uint256
    valid_until: uint256

event HolderKeyBound:
    id_hash: indexed(bytes32)
    by: indexed(address)
    previous_holder_key_hash: bytes32  # the key it replaces (empty: none was bound)
    holder_key_hash: bytes32

event LicenceUsed:
    id_hash: indexed(bytes32)
    user: indexed(address)
    purpose_hash: bytes32
    nonce: bytes32
    consent_hash: bytes32  # SM3 of the signed consent message

# --- state ---------------------------------------------------------------------------------------------
governance: public(IGovernance)
licence_types: public(HashMap[bytes32, LicenceType])
licences: HashMap[bytes32, Licence]  # read with get_licence
consent_used: public(HashMap[bytes32, HashMap[bytes32, bool]])  # id_hash -> nonce -> used
type_count: public(uint256)
licence_count: public(uint256)


# --- genesis -------------------------------------------------------------------------------------------
@external
def initialize(governance: address):
    """
    @notice Genesis set-up, callable exactly once: the Governance contract that answers role questions.
    """
    assert self.governance.address == empty(address), "already initialized"
    assert governance != empty(address), "zero governance address"
    self.governance = IGovernance(governance)


# --- helpers -------------------------------------------------------------------------------------------
@view
@internal
def _sm3(data: Bytes[CONSENT_MESSAGE_BYTES]) -> bytes32:
    out: Bytes[32] = raw_call(SM3_PRECOMPILE, data, max_outsize=32, is_static_call=True)
    assert len(out) == 32, "SM3 precompile unavailable"
    return convert(out, bytes32)


@pure
@internal
def _pack_lifecycle(state: uint8, suspended_since: uint256, ended_at: uint256) -> uint256:
    return convert(state, uint256) | (suspended_since << 64) | (ended_at << 128)


@view
@internal
def _load(id_hash: bytes32) -> LicenceView:
    """Unpack a stored licence (issuer_org left empty: get_licence fills it)."""
    stored: Licence = self.licences[id_hash]
    return LicenceView(
        type_id=stored.type_id,
        issuer=stored.issuer,
        issuer_org="",
        holder_commitment=stored.holder_commitment,
        holder_key_hash=stored.holder_key_hash,
        document_hash=stored.document_hash,
        valid_from=stored.window & TIME_MASK,
        valid_until=stored.window >> 64,
        jurisdiction=stored.jurisdiction,
        state=convert(stored.lifecycle & 255, uint8),
        suspended_since=(stored.lifecycle >> 64) & TIME_MASK,
        ended_at=stored.lifecycle >> 128,
        previous=stored.previous,
        next=stored.next,
        annotations=stored.annotations,
        uses=stored.uses,
    )


@view
@internal
def _status_at(lic: LicenceView, t: uint256) -> uint8:
    if lic.state == STATUS_UNKNOWN:
        return STATUS_UNKNOWN
    if (lic.state == STATUS_REVOKED or lic.state == STATUS_SUPERSEDED) and t >= lic.ended_at:
        return lic.state
    if lic.suspended_since != 0 and t >= lic.suspended_since:
        return STATUS_SUSPENDED
    if t < lic.valid_from:
        return STATUS_NOT_YET_VALID
    if lic.valid_until != 0 and t > lic.valid_until:
        return STATUS_EXPIRED
    return STATUS_VALID


@pure
@internal
def _alnum_value(c: uint256) -> uint256:
    # MOD 37,36 values: 0-9 -> 0..9, A-Z -> 10..35; anything else NOT_ALNUM
    if c >= 48 and c <= 57:
        return unsafe_sub(c, 48)
    if c >= 65 and c <= 90:
        return unsafe_sub(c, 55)
    return NOT_ALNUM


@pure
@internal
def _check_identifier_root(identifier: String[MAX_LICENCE_ID]):
    # long enough for the root, the type code and an 18-character issuer code (checked by the caller)
    assert len(identifier) >= ID_SERIAL_AT, "licence identifier has a wrong length"
    assert slice(identifier, 0, ID_TYPE_AT) == LICENCE_ID_ROOT, "not an e-licence identifier (1.2.156.3005.2.)"


@pure
@internal
def _segment_values(word: uint256, count: uint256, letters: bool) -> uint256:
    """The MOD 37,36 values (0-9 -> 0..9, A-Z -> 10..35) of the first ``count`` characters of ``word``, a byte
    each from the top; asserts they are digits, or digits and A-Z when ``letters``.

    Every issuance runs this on the reference EVM (the SM3 precompile keeps `issue` there), so the characters
    are classified all at once rather than one by one: with each byte's high bit set first, subtracting a
    character from every byte never borrows from the next byte, and the high bit left says "not below it".
    """
    keep: uint256 = max_value(uint256) << unsafe_mul(unsafe_sub(32, count), 8)
    w: uint256 = (word & keep) | (BYTE_ZEROS & ~keep)  # bytes past the segment read as "0"
    x: uint256 = w | BYTE_HIGH_BITS
    digits: uint256 = unsafe_sub(x, BYTE_ZEROS) & ~unsafe_sub(x, BYTE_ONES * 58) & BYTE_HIGH_BITS
    upper: uint256 = 0
    if letters:
        upper = unsafe_sub(x, BYTE_ONES * 65) & ~unsafe_sub(x, BYTE_ONES * 91) & BYTE_HIGH_BITS
        assert w & BYTE_HIGH_BITS == 0 and digits | upper == BYTE_HIGH_BITS, (
            "licence identifier segments are 0-9 or A-Z"
        )
    else:
        assert w & BYTE_HIGH_BITS == 0 and digits == BYTE_HIGH_BITS, "licence identifier version is 3 digits"
    # "0" is 48 and "A" is 65 = 55 + 10: letters lose 7 more
    return unsafe_sub(unsafe_sub(w, BYTE_ZEROS), unsafe_mul(upper >> 7, 7))


@pure
@internal
def _fold_mod37_36(p: uint256, values: uint256, count: uint256) -> uint256:
    """The MOD 37,36 running value ``p`` after the first ``count`` values of ``values`` (a byte each)."""
    q: uint256 = p
    v: uint256 = values
    for j: uint256 in range(count, bound=32):
        # q <- 2 * ((q + value) mod 36, or 36 for 0) mod 37
        q = unsafe_mul(unsafe_add(unsafe_add(unsafe_add(q, v >> 248), 35) % 36, 1), 2) % 37
        v = v << 8
    return q


@pure
@internal
def _check_identifier_form(identifier: String[MAX_LICENCE_ID]):
    """Dots between the segments, 0-9/A-Z segments, a 3-digit version and the MOD 37,36 check character."""
    n: uint256 = len(identifier)
    assert n >= MIN_LICENCE_ID, "licence identifier has a wrong length"
    # Padded so that every 32-byte read below stays inside; the segments are read a word each.
    raw: Bytes[MAX_LICENCE_ID + 32] = concat(convert(identifier, Bytes[MAX_LICENCE_ID]), empty(bytes32))
    version_dot: uint256 = unsafe_sub(n, 6)
    type_word: uint256 = extract32(raw, ID_TYPE_AT, output_type=uint256)
    issuer_word: uint256 = extract32(raw, ID_ISSUER_AT, output_type=uint256)
    serial_word: uint256 = extract32(raw, ID_SERIAL_AT, output_type=uint256)
    tail: uint256 = extract32(raw, version_dot, output_type=uint256) >> 208  # ".", 3 digits, ".", the check
    assert (
        (type_word >> TYPE_CODE_DOT_SHIFT) & 255 == ASCII_DOT
        and (issuer_word >> ISSUER_CODE_DOT_SHIFT) & 255 == ASCII_DOT
        and tail >> 40 == ASCII_DOT
        and (tail >> 8) & 255 == ASCII_DOT
    ), "licence identifier segments are misplaced"
    serial_length: uint256 = unsafe_sub(version_dot, ID_SERIAL_AT)  # 1..32, as MIN/MAX_LICENCE_ID allow
    p: uint256 = self._fold_mod37_36(36, self._segment_values(type_word, TYPE_CODE_LENGTH, True), TYPE_CODE_LENGTH)
    p = self._fold_mod37_36(p, self._segment_values(issuer_word, USCC_LENGTH, True), USCC_LENGTH)
    p = self._fold_mod37_36(p, self._segment_values(serial_word, serial_length, True), serial_length)
    p = self._fold_mod37_36(p, self._segment_values(((tail >> 16) & (2**24 - 1)) << 232, 3, False), 3)
    check: uint256 = self._alnum_value(tail & 255)
    assert check == (37 - p) % 36, "licence identifier check character is wrong"


@view
@internal
def _identify(identifier: String[MAX_LICENCE_ID], type_code: String[21], issuer_org: String[18]) -> bytes32:
    """
    @notice Check that `identifier` is well formed and names `type_code` and `issuer_org` (the issuing
            organisation's USCC); return its id hash, SM3(identifier).
    """
    self._check_identifier_root(identifier)
    assert slice(identifier, ID_TYPE_AT, TYPE_CODE_LENGTH) == type_code, (
        "identifier's type code is not the licence's type"
    )
    assert slice(identifier, ID_ISSUER_AT, USCC_LENGTH) == issuer_org, (
        "identifier's issuer code is not the issuing organisation"
    )
    self._check_identifier_form(identifier)
    return self._sm3(convert(identifier, Bytes[MAX_LICENCE_ID]))


@view
@internal
def _check_issuing_org(lic: LicenceView):
    assert lic.state != STATUS_UNKNOWN, "unknown licence"
    assert staticcall self.governance.is_active_account(msg.sender), "not an active account"
    sender_org: String[18] = staticcall self.governance.organisation_of(msg.sender)
    assert sender_org == staticcall self.governance.organisation_of(lic.issuer), "not the issuing organisation"


@view
@internal
def _check_not_ended(lic: LicenceView):
    assert lic.state != STATUS_REVOKED, "licence revoked"
    assert lic.state != STATUS_SUPERSEDED, "licence superseded"


@view
@internal
def _check_window(valid_from: uint256, valid_until: uint256):
    assert valid_from <= MAX_TIME and valid_until <= MAX_TIME, "time out of range"
    assert valid_until == 0 or valid_until >= valid_from, "validity window is empty"
    assert valid_until == 0 or valid_until >= block.timestamp, "validity already ended"


@internal
def _store_licence(
    id_hash: bytes32,
    type_id: bytes32,
    issuer_org: String[18],
    holder_commitment: bytes32,
    holder_key_hash: bytes32,
    document_hash: bytes32,
    valid_from: uint256,
    valid_until: uint256,
    jurisdiction: String[12],
    previous: bytes32,
):
    assert id_hash != empty(bytes32), "empty identifier hash"
    assert self.licences[id_hash].lifecycle == 0, "licence already issued"
    assert holder_commitment != empty(bytes32), "empty holder commitment"
    assert document_hash != empty(bytes32), "empty document hash"
    self._check_window(valid_from, valid_until)
    # field by field: the fields that start empty (next, counters; previous unless renewing) are not written
    self.licences[id_hash].type_id = type_id
    self.licences[id_hash].holder_commitment = holder_commitment
    if holder_key_hash != empty(bytes32):
        self.licences[id_hash].holder_key_hash = holder_key_hash
    self.licences[id_hash].document_hash = document_hash
    self.licences[id_hash].issuer = msg.sender
    self.licences[id_hash].window = valid_from | (valid_until << 64)
    self.licences[id_hash].lifecycle = self._pack_lifecycle(STATUS_VALID, 0, 0)
    self.licences[id_hash].jurisdiction = convert(convert(jurisdiction, Bytes[12]), bytes12)
    if previous != empty(bytes32):
        self.licences[id_hash].previous = previous
    self.licence_count += 1
    log LicenceIssued(
        id_hash=id_hash,
        type_id=type_id,
        issuer=msg.sender,
        issuer_org=issuer_org,
        holder_commitment=holder_commitment,
        holder_key_hash=holder_key_hash,
        document_hash=document_hash,
        valid_from=valid_from,
        valid_until=valid_until,
        jurisdiction=jurisdiction,
        previous=previous,
    )


# --- views ---------------------------------------------------------------------------------------------
@view
@external
def get_licence(id_hash: bytes32) -> LicenceView:
    """
    @notice A licence, unpacked, with its issuer's organisation; state 0 for an unknown licence.
    """
    lic: LicenceView = self._load(id_hash)
    if lic.state != STATUS_UNKNOWN:
        lic.issuer_org = staticcall self.governance.organisation_of(lic.issuer)
    return lic


@view
@external
def compute_type_id(type_code: String[21]) -> bytes32:
    """
    @notice SM3 of a licence type code: the type's id and the scope of its ISSUER grants.
    """
    return self._sm3(convert(type_code, Bytes[21]))


@view
@external
def status(id_hash: bytes32) -> uint8:
    """
    @notice The licence's status now (block.timestamp); 0 for an unknown licence.
    """
    return self._status_at(self._load(id_hash), block.timestamp)


@view
@external
def status_at(id_hash: bytes32, timestamp: uint256) -> uint8:
    """
    @notice The licence's status at `timestamp` (unix seconds) by its current record (see the header).
    """
    return self._status_at(self._load(id_hash), timestamp)


@view
@external
def is_issuer(account: address, type_id: bytes32) -> bool:
    """
    @notice Whether `account` may issue licences of `type_id` (an active holder of ISSUER for it).
    """
    return self.licence_types[type_id].defined and staticcall self.governance.has_role(account, ISSUER, type_id)


@view
@external
def consent_message(
    id_hash: bytes32, user: address, purpose_hash: bytes32, nonce: bytes32, not_after: uint256
) -> Bytes[CONSENT_MESSAGE_BYTES]:
    """
    @notice The exact bytes a holder signs to consent to one use of a licence by `user`.
    """
    return self._consent_message(id_hash, user, purpose_hash, nonce, not_after)


@view
@internal
def _consent_message(
    id_hash: bytes32, user: address, purpose_hash: bytes32, nonce: bytes32, not_after: uint256
) -> Bytes[CONSENT_MESSAGE_BYTES]:
    return concat(
        CONSENT_TAG,
        convert(chain.id, bytes32),
        convert(self, bytes20),
        id_hash,
        convert(user, bytes20),
        purpose_hash,
        nonce,
        convert(not_after, bytes32),
    )


# --- licence types -------------------------------------------------------------------------------------
@external
def define_type(type_code: String[21], name: String[128]) -> bytes32:
    """
    @notice Define a licence type. The sender's organisation must be the USCC in the type code.
    @return the type id, SM3(type_code)
    """
    assert len(type_code) == TYPE_CODE_LENGTH, "type code must be 21 characters"
    assert len(name) > 0, "empty type name"
    type_id: bytes32 = self._sm3(convert(type_code, Bytes[21]))
    assert not self.licence_types[type_id].defined, "licence type already defined"
    assert staticcall self.governance.has_role(msg.sender, LICENCE_AUTHORITY, type_id), "not a licence authority"
    org: String[18] = staticcall self.governance.organisation_of(msg.sender)
    assert org == slice(type_code, 0, USCC_LENGTH), "type code does not belong to the sender's organisation"
    self.licence_types[type_id] = LicenceType(
        type_code=type_code, name=name, authority=msg.sender, authority_org=org, defined=True
    )
    self.type_count += 1
    log LicenceTypeDefined(type_id=type_id, authority=msg.sender, type_code=type_code, name=name, authority_org=org)
    return type_id


# --- issuance and lifecycle ----------------------------------------------------------------------------
@external
def issue(
    identifier: String[MAX_LICENCE_ID],
    holder_commitment: bytes32,
    holder_key_hash: bytes32,
    document_hash: bytes32,
    valid_from: uint256,
    valid_until: uint256,
    jurisdiction: String[12],
) -> bytes32:
    """
    @notice Issue the licence `identifier` (GB/T 36904, normalised). Its type is the identifier's type code,
            for which the sender must hold ISSUER (Governance); its issuer code must be the USCC of the
            sender's organisation.
    @return the id hash, SM3(identifier)
    """
    self._check_identifier_root(identifier)
    type_code: String[21] = slice(identifier, ID_TYPE_AT, TYPE_CODE_LENGTH)
    type_id: bytes32 = self._sm3(convert(type_code, Bytes[21]))
    assert self.licence_types[type_id].defined, "unknown licence type"
    assert staticcall self.governance.has_role(msg.sender, ISSUER, type_id), "not an issuer of this licence type"
    assert len(jurisdiction) >= MIN_JURISDICTION_LENGTH, "jurisdiction must be a region code"
    # has_role has just read the sender's account record: this read is warm
    org: String[18] = staticcall self.governance.organisation_of(msg.sender)
    id_hash: bytes32 = self._identify(identifier, type_code, org)
    self._store_licence(
        id_hash,
        type_id,
        org,
        holder_commitment,
        holder_key_hash,
        document_hash,
        valid_from,
        valid_until,
        jurisdiction,
        empty(bytes32),
    )
    return id_hash


@external
def suspend(id_hash: bytes32, reason: String[MAX_REASON]):
    """
    @notice Suspend a live licence (issuing organisation only).
    """
    lic: LicenceView = self._load(id_hash)
    self._check_issuing_org(lic)
    self._check_not_ended(lic)
    assert lic.state != STATUS_SUSPENDED, "licence already suspended"
    assert len(reason) > 0, "empty reason"
    assert self._status_at(lic, block.timestamp) != STATUS_EXPIRED, "licence expired"
    self.licences[id_hash].lifecycle = self._pack_lifecycle(STATUS_SUSPENDED, block.timestamp, 0)
    log LicenceSuspended(id_hash=id_hash, by=msg.sender, reason=reason)


@external
def resume(id_hash: bytes32, reason: String[MAX_REASON]):
    """
    @notice Lift a suspension (issuing organisation only).
    """
    lic: LicenceView = self._load(id_hash)
    self._check_issuing_org(lic)
    self._check_not_ended(lic)
    assert lic.state == STATUS_SUSPENDED, "licence not suspended"
    assert len(reason) > 0, "empty reason"
    self.licences[id_hash].lifecycle = self._pack_lifecycle(STATUS_VALID, 0, 0)
    log LicenceResumed(id_hash=id_hash, by=msg.sender, reason=reason)


@external
def revoke(id_hash: bytes32, reason: String[MAX_REASON]):
    """
    @notice Revoke a licence for good (issuing organisation only); a suspended or expired one too.
    """
    lic: LicenceView = self._load(id_hash)
    self._check_issuing_org(lic)
    self._check_not_ended(lic)
    assert len(reason) > 0, "empty reason"
    # a suspension in force stays recorded, so status_at still reports it for the time before revocation
    self.licences[id_hash].lifecycle = self._pack_lifecycle(STATUS_REVOKED, lic.suspended_since, block.timestamp)
    log LicenceRevoked(id_hash=id_hash, by=msg.sender, reason=reason)


@external
def renew(
    id_hash: bytes32,
    new_identifier: String[MAX_LICENCE_ID],
    document_hash: bytes32,
    valid_from: uint256,
    valid_until: uint256,
) -> bytes32:
    """
    @notice Issue a new version of a licence (same type, holder, holder key and jurisdiction) linked to
            the old one, which becomes SUPERSEDED. Issuing organisation, still an ISSUER of the type; the
            new identifier names the same type and the issuing organisation.
    @return the new version's id hash, SM3(new_identifier)
    """
    lic: LicenceView = self._load(id_hash)
    self._check_issuing_org(lic)
    self._check_not_ended(lic)
    assert lic.state != STATUS_SUSPENDED, "licence suspended"
    assert staticcall self.governance.has_role(msg.sender, ISSUER, lic.type_id), "not an issuer of this licence type"
    org: String[18] = staticcall self.governance.organisation_of(msg.sender)
    new_id_hash: bytes32 = self._identify(new_identifier, self.licence_types[lic.type_id].type_code, org)
    self._store_licence(
        new_id_hash,
        lic.type_id,
        org,
        lic.holder_commitment,
        lic.holder_key_hash,
        document_hash,
        valid_from,
        valid_until,
        self._jurisdiction_text(lic.jurisdiction),
        id_hash,
    )
    self.licences[id_hash].lifecycle = self._pack_lifecycle(STATUS_SUPERSEDED, 0, block.timestamp)
    self.licences[id_hash].next = new_id_hash
    log LicenceRenewed(id_hash=id_hash, new_id_hash=new_id_hash, by=msg.sender)
    return new_id_hash


@pure
@internal
def _jurisdiction_text(code: bytes12) -> String[12]:
    # the stored code is ASCII digits followed by zero bytes
    raw: Bytes[32] = concat(code, empty(bytes20))
    n: uint256 = 0
    for i: uint256 in range(12):
        if slice(raw, i, 1) == b"\x00":
            break
        n += 1
    return convert(slice(raw, 0, n), String[12])


@external
def annotate(
    id_hash: bytes32,
    annotation_hash: bytes32,
    reason: String[MAX_REASON],
    valid_from: uint256,
    valid_until: uint256,
):
    """
    @notice Attach an annotation (加注件: its document hash, 事由, validity) to a live licence.
    """
    lic: LicenceView = self._load(id_hash)
    self._check_issuing_org(lic)
    self._check_not_ended(lic)
    assert self._status_at(lic, block.timestamp) != STATUS_EXPIRED, "licence expired"
    assert annotation_hash != empty(bytes32), "empty annotation hash"
    assert len(reason) > 0, "empty reason"
    assert valid_until == 0 or valid_until >= valid_from, "validity window is empty"
    index: uint256 = lic.annotations + 1
    self.licences[id_hash].annotations = index
    log LicenceAnnotated(
        id_hash=id_hash,
        by=msg.sender,
        index=index,
        annotation_hash=annotation_hash,
        reason=reason,
        valid_from=valid_from,
        valid_until=valid_until,
    )


@external
def bind_holder_key(id_hash: bytes32, holder_key_hash: bytes32):
    """
    @notice Bind (or replace, e.g. after a lost key) the holder key whose consent use records need: an
            account of the issuing organisation holding ISSUER for the licence's type. The event keeps the
            replaced key's hash, so every binding stays in the licence's history.
    """
    lic: LicenceView = self._load(id_hash)
    self._check_issuing_org(lic)
    self._check_not_ended(lic)
    assert staticcall self.governance.has_role(msg.sender, ISSUER, lic.type_id), "not an issuer of this licence type"
    assert holder_key_hash != empty(bytes32), "empty holder key hash"
    assert holder_key_hash != lic.holder_key_hash, "holder key already bound"
    self.licences[id_hash].holder_key_hash = holder_key_hash
    log HolderKeyBound(
        id_hash=id_hash,
        by=msg.sender,
        previous_holder_key_hash=lic.holder_key_hash,
        holder_key_hash=holder_key_hash,
    )


# --- use (用证) ----------------------------------------------------------------------------------------
@external
def record_use(
    id_hash: bytes32,
    purpose_hash: bytes32,
    nonce: bytes32,
    not_after: uint256,
    holder_public_key: Bytes[64],
    signature: Bytes[64],
):
    """
    @notice Record that the sender (an active account) used a valid licence with its holder's consent:
            an SM2 signature by the bound holder key over consent_message(...), checked on chain.
    """
    assert staticcall self.governance.is_active_account(msg.sender), "not an active account"
    lic: LicenceView = self._load(id_hash)
    current: uint8 = self._status_at(lic, block.timestamp)
    assert current != STATUS_UNKNOWN, "unknown licence"
    assert current != STATUS_REVOKED, "licence revoked"
    assert current != STATUS_SUPERSEDED, "licence superseded"
    assert current != STATUS_SUSPENDED, "licence suspended"
    assert current != STATUS_NOT_YET_VALID, "licence not yet valid"
    assert current != STATUS_EXPIRED, "licence expired"
    assert lic.holder_key_hash != empty(bytes32), "no holder key bound"
    assert block.timestamp <= not_after, "consent expired"
    assert not self.consent_used[id_hash][nonce], "consent already used"
    assert len(holder_public_key) == 64, "holder key must be 64 bytes"
    assert self._sm3(holder_public_key) == lic.holder_key_hash, "holder key does not match the licence"
    message: Bytes[CONSENT_MESSAGE_BYTES] = self._consent_message(id_hash, msg.sender, purpose_hash, nonce, not_after)
    ok: Bytes[32] = raw_call(
        SM2_PRECOMPILE, concat(holder_public_key, signature, message), max_outsize=32, is_static_call=True
    )
    assert len(ok) == 32 and convert(ok, uint256) == 1, "bad consent signature"
    self.consent_used[id_hash][nonce] = True
    self.licences[id_hash].uses = lic.uses + 1
    log LicenceUsed(
        id_hash=id_hash, user=msg.sender, purpose_hash=purpose_hash, nonce=nonce, consent_hash=self._sm3(message)
    )
