# pragma version 0.4.3
# pragma evm-version prague
"""
@title Xinlian Governance: organisations, accounts, roles, validators and the committee
@notice Every domain contract asks this contract who may do what (`has_role`, `is_active_account`).
        Every change emits an event: the event log is the audit trail.

Who may change what
-------------------
* The committee (members + threshold) changes anything through proposals: `propose(action, payload,
  expiry_block)` counts the proposer's vote, `vote(id)` adds one vote per member, and the proposal executes
  in the transaction whose vote reaches the threshold (`execute(id)` covers a threshold lowered later).
  Votes are accepted while block.number < expiry_block. A proposal whose action reverts cannot execute.
* Delegated grants: `role_admin[role]` names an admin role; an active account holding it may `grant_role` /
  `revoke_role` that role directly, within the scopes it administers (`_check_role_admin`):
  - an admin role held for a scope (not globally) administers exactly that scope;
  - an admin role held globally administers every scope, except for roles whose scopes have owners:
    ISSUER's scopes are licence types, owned by the organisation that defined them in the LicenceRegistry
    (the system contract registered as "LicenceRegistry"). A global LICENCE_AUTHORITY grants and revokes
    ISSUER only for types its own organisation defined, and nobody grants ISSUER globally but the committee.
  - Separation of duties: no delegated admin grants a role to an account of its own organisation (itself
    included), which would let an organisation hand itself the powers it supervises without anyone else
    reviewing it; such grants take a committee proposal. Revoking within one's own organisation is allowed.
* The working-day calendar (the Calendar contract, registered as "Calendar") accepts changes only from this
  contract, i.e. only through the proposal actions SET_CALENDAR_DAYS and EXTEND_CALENDAR.
* `initialize(...)` runs once, at genesis, from the node.
* Contract upgrades: `propose_upgrade(target, code_hash, code, migration, activation_block, expiry_block)`
  creates an UPGRADE_CONTRACT proposal (voted like any other) whose code travels in the proposal's
  transaction and is logged once (`UpgradeCode`); the approved upgrade is scheduled for `activation_block`.
  At the start of that block every node installs the code at the target itself, outside the EVM, runs the
  migration call (from this contract's address) and reports the outcome through `record_upgrade`, callable
  only by the ledger's SYSTEM_SENDER (an address no key controls): see docs/operations.md.

Proposal actions and their payloads (`payload = abi.encode(<tuple>)`)
--------------------------------------------------------------------
 1 REGISTER_ORGANISATION   (string uscc, string name)
 2 SET_ORGANISATION_ACTIVE (string uscc, bool active)
 3 REGISTER_ACCOUNT        (address account, string uscc)
 4 SET_ACCOUNT_ACTIVE      (address account, bool active)
 5 GRANT_ROLE              (address account, bytes32 role, bytes32 scope)
 6 REVOKE_ROLE             (address account, bytes32 role, bytes32 scope)
 7 ADD_VALIDATOR           (bytes public_key)            64 bytes x||y of an SM2 key
 8 REMOVE_VALIDATOR        (bytes public_key)
 9 SET_COMMITTEE_MEMBER    (address account, bool member)
10 SET_THRESHOLD           (uint256 threshold)
11 SET_ROLE_ADMIN          (bytes32 role, bytes32 admin_role)   admin_role 0x0 removes delegation
12 REGISTER_CONTRACT       (bytes32 name, address addr)   system contract registry (code is installed by the
                                                          node at governance-approved fixed addresses)
13 SET_CALENDAR_DAYS       (uint256[] days, uint8 kind)   Calendar.set_days: list future days as HOLIDAY (1),
                                                          MAKE_UP (2) or back to ORDINARY (0); at most 60 days
14 EXTEND_CALENDAR         (uint256 covered_through, uint256[] holidays, uint256[] make_up_days)
                                                          a new annual notice: lists its days, then grows the
                                                          calendar's coverage to covered_through (60 days max)
15 UPGRADE_CONTRACT        (address target, bytes32 code_hash, uint256 activation_block, bytes migration)
                                                          created only by propose_upgrade, which carries the code
16 ADD_TRUST_ANCHOR        (bytes certificate)           a CA certificate (DER) that issues organisation
                                                          certificates: a root or an intermediate CA
17 REMOVE_TRUST_ANCHOR     (bytes32 anchor_id)           keccak256 of the anchor's DER
18 BIND_CERTIFICATE        (address account, bytes certificate)
                                                          binds an account to its organisation's SM2 X.509
                                                          certificate (DER), issued by a trust anchor
19 UNBIND_CERTIFICATE      (address account)

Certificates (the chain of trust on chain)
------------------------------------------
This contract cannot parse X.509, so it records and the SDK checks: the committee approves trust anchors
(CA certificates) and account bindings by proposal, every node holds their DER in state (genesis ones
included: `initialize_trust` applies them at block 0), and whoever relies on a binding re-checks it from
that state (`sdk.domains.governance`: the issuer's signature, validity, CA flag, the key matching the
account, the USCC matching its organisation) against the anchors in force. A certificate's id is keccak256
of its DER, computed here, so an id always names the bytes recorded. A DER certificate is at most
MAX_CERTIFICATE_BYTES.

Roles are bytes32 ids, by convention keccak256 of an upper-case name (constants below); a scope is a bytes32
such as the hash of a licence type code, or empty(bytes32) for a global grant.
"""

# --- role ids ------------------------------------------------------------------------------------------
LICENCE_AUTHORITY: public(constant(bytes32)) = keccak256("LICENCE_AUTHORITY")  # defines licence types
ISSUER: public(constant(bytes32)) = keccak256("ISSUER")  # issues licences of a type (scope)
AUDIT_ACCREDITOR: public(constant(bytes32)) = keccak256("AUDIT_ACCREDITOR")  # grants AUDITOR
AUDITOR: public(constant(bytes32)) = keccak256("AUDITOR")  # audit firm sending confirmation letters
BANK: public(constant(bytes32)) = keccak256("BANK")  # replies to confirmation letters
DRUG_REGULATOR: public(constant(bytes32)) = keccak256("DRUG_REGULATOR")  # grants MAH/DISTRIBUTOR/DISPENSER
MAH: public(constant(bytes32)) = keccak256("MAH")  # marketing authorisation holder
DISTRIBUTOR: public(constant(bytes32)) = keccak256("DISTRIBUTOR")
DISPENSER: public(constant(bytes32)) = keccak256("DISPENSER")  # pharmacy / hospital
DATA_REGULATOR: public(constant(bytes32)) = keccak256("DATA_REGULATOR")  # approves core-data sharing
DATA_HOLDER: public(constant(bytes32)) = keccak256("DATA_HOLDER")
DATA_USER: public(constant(bytes32)) = keccak256("DATA_USER")
CALENDAR_KEEPER: public(constant(bytes32)) = keccak256("CALENDAR_KEEPER")  # retired: calendar changes are proposals

# --- proposal actions ----------------------------------------------------------------------------------
REGISTER_ORGANISATION: public(constant(uint8)) = 1
SET_ORGANISATION_ACTIVE: public(constant(uint8)) = 2
REGISTER_ACCOUNT: public(constant(uint8)) = 3
SET_ACCOUNT_ACTIVE: public(constant(uint8)) = 4
GRANT_ROLE: public(constant(uint8)) = 5
REVOKE_ROLE: public(constant(uint8)) = 6
ADD_VALIDATOR: public(constant(uint8)) = 7
REMOVE_VALIDATOR: public(constant(uint8)) = 8
SET_COMMITTEE_MEMBER: public(constant(uint8)) = 9
SET_THRESHOLD: public(constant(uint8)) = 10
SET_ROLE_ADMIN: public(constant(uint8)) = 11
REGISTER_CONTRACT: public(constant(uint8)) = 12
SET_CALENDAR_DAYS: public(constant(uint8)) = 13
EXTEND_CALENDAR: public(constant(uint8)) = 14
UPGRADE_CONTRACT: public(constant(uint8)) = 15
ADD_TRUST_ANCHOR: public(constant(uint8)) = 16
REMOVE_TRUST_ANCHOR: public(constant(uint8)) = 17
BIND_CERTIFICATE: public(constant(uint8)) = 18
UNBIND_CERTIFICATE: public(constant(uint8)) = 19
LAST_ACTION: constant(uint8) = UNBIND_CERTIFICATE

MAX_VALIDATORS: public(constant(uint256)) = 64
MAX_COMMITTEE: public(constant(uint256)) = 32
MAX_PAYLOAD: constant(uint256) = 4096  # room for EXTEND_CALENDAR: 96 + 2 * (32 + 32 * MAX_CALENDAR_DAYS) bytes
MAX_CALENDAR_DAYS: public(constant(uint256)) = 60  # days per calendar list in one proposal
CALENDAR_HOLIDAY: constant(uint8) = 1  # Calendar.HOLIDAY
CALENDAR_MAKE_UP: constant(uint8) = 2  # Calendar.MAKE_UP
VALIDATOR_KEY_BYTES: constant(uint256) = 64
# SM2 certificates are 0.5-1 KB; a payload of this size fits MAX_PAYLOAD with room to spare
MAX_CERTIFICATE_BYTES: public(constant(uint256)) = 2048
MAX_TRUST_ANCHORS: public(constant(uint256)) = 16

# --- contract upgrades ---------------------------------------------------------------------------------
MAX_CODE_BYTES: public(constant(uint256)) = 24576  # EIP-170's limit on runtime code
MAX_MIGRATION_BYTES: public(constant(uint256)) = 1024  # calldata of the migration call
UPGRADE_NOTICE_BLOCKS: public(constant(uint256)) = 5  # activation > approval block + this
# keccak256("xinlian ledger system sender")[-20:]: the sender of the ledger's own calls; no key controls it
SYSTEM_SENDER: public(constant(address)) = 0x6dA273e25ACF8959e26c1B2023C7D383d4f05653
UPGRADE_SCHEDULED: public(constant(uint8)) = 1  # approved, waiting for its activation block
UPGRADE_ACTIVATED: public(constant(uint8)) = 2  # code installed (and migrated) at the activation block
UPGRADE_MIGRATION_FAILED: public(constant(uint8)) = 3  # the migration call failed: the old code stays
UPGRADE_CODE_UNAVAILABLE: public(constant(uint8)) = 4  # no logged code with the approved hash: old code stays

# registry names (bytes32: the ASCII name, right-padded with zeros) of the system contracts used here
LICENCE_REGISTRY_NAME: constant(bytes32) = 0x4c6963656e636552656769737472790000000000000000000000000000000000
CALENDAR_NAME: constant(bytes32) = 0x43616c656e646172000000000000000000000000000000000000000000000000

# --- other system contracts ----------------------------------------------------------------------------
struct LicenceType:
    # LicenceRegistry.licence_types(type_id), as that contract returns it
    type_code: String[21]
    name: String[128]
    authority: address
    authority_org: String[18]
    defined: bool

interface LicenceRegistry:
    def licence_types(type_id: bytes32) -> LicenceType: view

interface Calendar:
    def set_days(days: DynArray[uint256, 128], kind: uint8): nonpayable
    def set_covered_through(covered_through: uint256): nonpayable

# --- types ---------------------------------------------------------------------------------------------
struct Organisation:
    name: String[128]
    active: bool
    registered: bool

struct Account:
    uscc: String[18]
    active: bool
    registered: bool

struct Proposal:
    action: uint8
    payload: Bytes[MAX_PAYLOAD]
    proposer: address
    created_block: uint256
    expiry_block: uint256
    votes: uint256
    executed: bool

struct Upgrade:
    target: address
    code_hash: bytes32  # keccak256 of the new runtime code (the account's codeHash once installed)
    activation_block: uint256
    migration: Bytes[MAX_MIGRATION_BYTES]  # calldata of the migration call, empty for none
    status: uint8  # UPGRADE_SCHEDULED ... UPGRADE_CODE_UNAVAILABLE (0: no such upgrade)
    previous_code_hash: bytes32  # the code hash in force before the activation block (set then)

struct OrganisationInit:
    uscc: String[18]
    name: String[128]

struct AccountInit:
    account: address
    uscc: String[18]

struct RoleInit:
    account: address
    role: bytes32
    scope: bytes32

struct RoleAdminInit:
    role: bytes32
    admin_role: bytes32

struct ContractInit:
    name: bytes32
    addr: address

struct Certificate:
    certificate_id: bytes32  # keccak256(certificate); zero: no binding
    certificate: Bytes[MAX_CERTIFICATE_BYTES]  # DER
    bound_block: uint256

# --- events (the audit trail) --------------------------------------------------------------------------
event OrganisationRegistered:
    uscc: String[18]
    name: String[128]

event OrganisationActiveSet:
    uscc: String[18]
    active: bool

event AccountRegistered:
    account: indexed(address)
    uscc: String[18]

event AccountActiveSet:
    account: indexed(address)
    active: bool

event RoleGranted:
    account: indexed(address)
    role: indexed(bytes32)
    scope: indexed(bytes32)
    by: address  # the delegated admin, or this contract for a committee decision

event RoleRevoked:
    account: indexed(address)
    role: indexed(bytes32)
    scope: indexed(bytes32)
    by: address

event RoleAdminSet:
    role: indexed(bytes32)
    admin_role: indexed(bytes32)

event ValidatorAdded:
    public_key: Bytes[64]
    validator_set_version: uint256

event ValidatorRemoved:
    public_key: Bytes[64]
    validator_set_version: uint256

event CommitteeMemberSet:
    account: indexed(address)
    member: bool

event ThresholdSet:
    threshold: uint256

event ContractRegistered:
    name: indexed(bytes32)
    addr: address
    previous: address

event ProposalCreated:
    proposal_id: indexed(uint256)
    proposer: indexed(address)
    action: uint8
    payload: Bytes[MAX_PAYLOAD]
    expiry_block: uint256

event ProposalVoted:
    proposal_id: indexed(uint256)
    voter: indexed(address)
    votes: uint256

event ProposalExecuted:
    proposal_id: indexed(uint256)
    action: uint8

event UpgradeCode:
    proposal_id: indexed(uint256)
    code_hash: indexed(bytes32)
    code: Bytes[MAX_CODE_BYTES]

event UpgradeScheduled:
    proposal_id: indexed(uint256)
    target: indexed(address)
    code_hash: bytes32
    activation_block: uint256

event TrustAnchorAdded:
    anchor_id: indexed(bytes32)

event TrustAnchorRemoved:
    anchor_id: indexed(bytes32)

event CertificateBound:
    account: indexed(address)
    certificate_id: indexed(bytes32)
    previous: bytes32  # the binding it replaced, zero for none

event CertificateUnbound:
    account: indexed(address)
    certificate_id: indexed(bytes32)

event UpgradeApplied:
    proposal_id: indexed(uint256)
    target: indexed(address)
    previous_code_hash: bytes32
    code_hash: bytes32
    status: uint8

# --- state ---------------------------------------------------------------------------------------------
initialized: public(bool)

organisations: public(HashMap[String[18], Organisation])
accounts: public(HashMap[address, Account])
# raw grants, without the active-account check that has_role applies
role_granted: public(HashMap[address, HashMap[bytes32, HashMap[bytes32, bool]]])
role_admin: public(HashMap[bytes32, bytes32])

validators: DynArray[Bytes[64], MAX_VALIDATORS]
is_validator: HashMap[bytes32, bool]  # keccak256(public key) -> in the set
validator_set_version: public(uint256)

committee: DynArray[address, MAX_COMMITTEE]
is_committee_member: public(HashMap[address, bool])
threshold: public(uint256)

proposals: public(HashMap[uint256, Proposal])
proposal_count: public(uint256)
has_voted: public(HashMap[uint256, HashMap[address, bool]])

contracts: public(HashMap[bytes32, address])
system_contract_names: public(HashMap[address, bytes32])  # reverse of `contracts`

upgrades: public(HashMap[uint256, Upgrade])  # by proposal id
upgrade_at: public(HashMap[uint256, uint256])  # activation block -> proposal id (one upgrade per block)

trust_anchor_ids: DynArray[bytes32, MAX_TRUST_ANCHORS]
trust_anchors: public(HashMap[bytes32, Bytes[MAX_CERTIFICATE_BYTES]])  # anchor id -> DER (empty: none)
certificates: public(HashMap[address, Certificate])


# --- genesis -------------------------------------------------------------------------------------------
@external
def initialize(
    members: DynArray[address, MAX_COMMITTEE],
    threshold: uint256,
    organisations: DynArray[OrganisationInit, 64],
    accounts: DynArray[AccountInit, 256],
    roles: DynArray[RoleInit, 256],
    role_admins: DynArray[RoleAdminInit, 64],
    validators: DynArray[Bytes[64], MAX_VALIDATORS],
    contracts: DynArray[ContractInit, 32],
):
    """
    @notice Genesis set-up, callable exactly once. Accounts must belong to listed organisations and
            committee members must be listed accounts. Emits the same events as later changes.
    """
    assert not self.initialized, "already initialized"
    self.initialized = True
    for o: OrganisationInit in organisations:
        self._register_organisation(o.uscc, o.name)
    for a: AccountInit in accounts:
        self._register_account(a.account, a.uscc)
    for m: address in members:
        self._set_committee_member(m, True)
    self._set_threshold(threshold)
    for ra: RoleAdminInit in role_admins:
        self._set_role_admin(ra.role, ra.admin_role)
    for r: RoleInit in roles:
        self._grant_role(r.account, r.role, r.scope, self)
    assert len(validators) > 0, "no validators"
    for v: Bytes[64] in validators:
        self._add_validator(v)
    for c: ContractInit in contracts:
        self._register_contract(c.name, c.addr)


@external
def initialize_trust(action: uint8, payload: Bytes[MAX_PAYLOAD]):
    """
    @notice Genesis only (block 0, after `initialize`, from the genesis sender): one ADD_TRUST_ANCHOR or
            BIND_CERTIFICATE the genesis assembly checked, applied as the committee's proposal would be.
            A genesis without certificates never calls it; after block 0 nothing can.
    """
    assert block.number == 0 and msg.sender == empty(address), "genesis only"
    assert self.initialized, "not initialized"
    assert action == ADD_TRUST_ANCHOR or action == BIND_CERTIFICATE, "not a trust action"
    self._apply(action, payload, 0)


# --- views ---------------------------------------------------------------------------------------------
@view
@internal
def _is_active_account(account: address) -> bool:
    acc: Account = self.accounts[account]
    if not acc.active:
        return False
    return self.organisations[acc.uscc].active


@view
@internal
def _has_role(account: address, role: bytes32, scope: bytes32) -> bool:
    if not self._is_active_account(account):
        return False
    if self.role_granted[account][role][scope]:
        return True
    return self.role_granted[account][role][empty(bytes32)]


@view
@external
def is_active_account(account: address) -> bool:
    """
    @notice True when the account is registered and active and its organisation is active.
    """
    return self._is_active_account(account)


@view
@external
def has_role(account: address, role: bytes32, scope: bytes32) -> bool:
    """
    @notice True when the account is active and holds `role` for `scope` or globally (empty scope).
    """
    return self._has_role(account, role, scope)


@view
@external
def organisation_of(account: address) -> String[18]:
    """
    @notice USCC of the account's organisation ("" for an unknown account).
    """
    return self.accounts[account].uscc


@view
@external
def get_validators() -> DynArray[Bytes[64], MAX_VALIDATORS]:
    """
    @notice The ordered validator set: 64-byte SM2 public keys x||y.
    """
    return self.validators


@view
@external
def get_committee() -> DynArray[address, MAX_COMMITTEE]:
    return self.committee


@view
@external
def get_trust_anchors() -> DynArray[bytes32, MAX_TRUST_ANCHORS]:
    """@notice The ids of the trust anchors in force, in the order they were added."""
    return self.trust_anchor_ids


# --- delegated grants ----------------------------------------------------------------------------------
@external
def grant_role(account: address, role: bytes32, scope: bytes32):
    """
    @notice Grant `role` for `scope` as a delegated admin: a holder of role_admin[role] for a scope it
            administers (see the module notes), to an account of another organisation.
    """
    self._check_role_admin(msg.sender, role, scope)
    self._check_not_own_organisation(msg.sender, account)
    self._grant_role(account, role, scope, msg.sender)


@external
def revoke_role(account: address, role: bytes32, scope: bytes32):
    """
    @notice Revoke `role` for `scope` as a delegated admin: a holder of role_admin[role] for a scope it
            administers (see the module notes).
    """
    self._check_role_admin(msg.sender, role, scope)
    self._revoke_role(account, role, scope, msg.sender)


@view
@internal
def _has_scopes_with_owners(role: bytes32) -> bool:
    # ISSUER's scopes are licence types, each owned by the organisation that defined it
    return role == ISSUER


@view
@internal
def _owns_licence_type(sender: address, type_id: bytes32) -> bool:
    registry: address = self.contracts[LICENCE_REGISTRY_NAME]
    if registry == empty(address):
        return False
    licence_type: LicenceType = staticcall LicenceRegistry(registry).licence_types(type_id)
    return licence_type.defined and licence_type.authority_org == self.accounts[sender].uscc


@view
@internal
def _check_role_admin(sender: address, role: bytes32, scope: bytes32):
    admin_role: bytes32 = self.role_admin[role]
    assert admin_role != empty(bytes32), "role has no delegated admin"
    assert self._is_active_account(sender), "not an admin of this role"
    if scope != empty(bytes32) and self.role_granted[sender][admin_role][scope]:
        return  # an admin for exactly this scope
    assert self.role_granted[sender][admin_role][empty(bytes32)], "not an admin of this role"
    if not self._has_scopes_with_owners(role):
        return  # a global admin of a role whose scopes have no owners
    assert scope != empty(bytes32), "a global grant of this role needs a committee proposal"
    assert self._owns_licence_type(sender, scope), "the licence type is not defined by the admin's organisation"


@view
@internal
def _check_not_own_organisation(sender: address, account: address):
    assert self.accounts[account].uscc != self.accounts[sender].uscc, (
        "cannot grant a role to the admin's own organisation: that needs a committee proposal"
    )


@pure
@internal
def _require_der(certificate: Bytes[MAX_CERTIFICATE_BYTES]):
    # the DER of a certificate is a SEQUENCE with a two-byte long-form length (0x30 0x82: a body of 256 bytes
    # to 64 KiB), as every real one is; anything else is refused before it takes a storage slot
    assert len(certificate) >= 4 and slice(certificate, 0, 2) == b"\x30\x82", "certificate is not DER"


@internal
def _add_trust_anchor(certificate: Bytes[MAX_CERTIFICATE_BYTES]):
    self._require_der(certificate)
    anchor_id: bytes32 = keccak256(certificate)
    assert len(self.trust_anchors[anchor_id]) == 0, "trust anchor already added"
    assert len(self.trust_anchor_ids) < MAX_TRUST_ANCHORS, "too many trust anchors"
    self.trust_anchors[anchor_id] = certificate
    self.trust_anchor_ids.append(anchor_id)
    log TrustAnchorAdded(anchor_id=anchor_id)


@internal
def _remove_trust_anchor(anchor_id: bytes32):
    assert len(self.trust_anchors[anchor_id]) > 0, "not a trust anchor"
    self.trust_anchors[anchor_id] = b""
    kept: DynArray[bytes32, MAX_TRUST_ANCHORS] = []
    for a: bytes32 in self.trust_anchor_ids:
        if a != anchor_id:
            kept.append(a)
    self.trust_anchor_ids = kept
    log TrustAnchorRemoved(anchor_id=anchor_id)


@internal
def _bind_certificate(account: address, certificate: Bytes[MAX_CERTIFICATE_BYTES]):
    assert self.accounts[account].registered, "unknown account"
    assert len(self.trust_anchor_ids) > 0, "no trust anchor"
    self._require_der(certificate)
    certificate_id: bytes32 = keccak256(certificate)
    previous: bytes32 = self.certificates[account].certificate_id
    assert previous != certificate_id, "certificate already bound"
    self.certificates[account] = Certificate(
        certificate_id=certificate_id,
        certificate=certificate,
        bound_block=block.number,
    )
    log CertificateBound(account=account, certificate_id=certificate_id, previous=previous)


@internal
def _unbind_certificate(account: address):
    certificate_id: bytes32 = self.certificates[account].certificate_id
    assert certificate_id != empty(bytes32), "no certificate bound"
    self.certificates[account] = empty(Certificate)
    log CertificateUnbound(account=account, certificate_id=certificate_id)


# --- committee -----------------------------------------------------------------------------------------
@external
def propose(action: uint8, payload: Bytes[MAX_PAYLOAD], expiry_block: uint256) -> uint256:
    """
    @notice Create a proposal and cast the proposer's vote; executes at once when the threshold is 1.
    @return the proposal id (1, 2, ...)
    """
    assert self.is_committee_member[msg.sender], "not a committee member"
    assert action >= REGISTER_ORGANISATION and action <= LAST_ACTION, "unknown action"
    assert action != UPGRADE_CONTRACT, "an upgrade carries its code: use propose_upgrade"
    proposal_id: uint256 = self._create_proposal(action, payload, expiry_block)
    self._vote(proposal_id, msg.sender)
    return proposal_id


@external
def propose_upgrade(
    target: address,
    code_hash: bytes32,
    code: Bytes[MAX_CODE_BYTES],
    migration: Bytes[MAX_MIGRATION_BYTES],
    activation_block: uint256,
    expiry_block: uint256,
) -> uint256:
    """
    @notice Propose installing `code` (runtime code, keccak256 `code_hash`) at the system contract `target`
            at the start of block `activation_block`, then calling it with `migration` (empty: no call).
            Logs the code once (UpgradeCode); the proposal's payload holds the rest.
    @return the proposal id
    """
    assert self.is_committee_member[msg.sender], "not a committee member"
    assert len(code) > 0, "empty code"
    assert keccak256(code) == code_hash, "code hash mismatch"
    self._check_upgrade(target, activation_block)
    payload: Bytes[MAX_PAYLOAD] = abi_encode(target, code_hash, activation_block, migration)
    proposal_id: uint256 = self._create_proposal(UPGRADE_CONTRACT, payload, expiry_block)
    log UpgradeCode(proposal_id=proposal_id, code_hash=code_hash, code=code)
    self._vote(proposal_id, msg.sender)
    return proposal_id


@external
def record_upgrade(proposal_id: uint256, previous_code_hash: bytes32, status: uint8):
    """
    @notice The ledger's report of an upgrade at its activation block (from SYSTEM_SENDER only).
    """
    assert msg.sender == SYSTEM_SENDER, "only the ledger records upgrades"
    assert self.upgrades[proposal_id].status == UPGRADE_SCHEDULED, "no scheduled upgrade"
    assert self.upgrades[proposal_id].activation_block == block.number, "not the activation block"
    assert status >= UPGRADE_ACTIVATED and status <= UPGRADE_CODE_UNAVAILABLE, "unknown upgrade status"
    self.upgrades[proposal_id].status = status
    self.upgrades[proposal_id].previous_code_hash = previous_code_hash
    log UpgradeApplied(
        proposal_id=proposal_id,
        target=self.upgrades[proposal_id].target,
        previous_code_hash=previous_code_hash,
        code_hash=self.upgrades[proposal_id].code_hash,
        status=status,
    )


@internal
def _create_proposal(action: uint8, payload: Bytes[MAX_PAYLOAD], expiry_block: uint256) -> uint256:
    assert expiry_block > block.number, "expiry must be in the future"
    proposal_id: uint256 = self.proposal_count + 1
    self.proposal_count = proposal_id
    self.proposals[proposal_id] = Proposal(
        action=action,
        payload=payload,
        proposer=msg.sender,
        created_block=block.number,
        expiry_block=expiry_block,
        votes=0,
        executed=False,
    )
    log ProposalCreated(
        proposal_id=proposal_id, proposer=msg.sender, action=action, payload=payload, expiry_block=expiry_block
    )
    return proposal_id


@view
@internal
def _check_upgrade(target: address, activation_block: uint256):
    assert self.system_contract_names[target] != empty(bytes32), "not a system contract"
    assert activation_block > block.number + UPGRADE_NOTICE_BLOCKS, "activation block too soon"
    assert self.upgrade_at[activation_block] == 0, "another upgrade activates at that block"


@external
def vote(proposal_id: uint256):
    """
    @notice Vote for a proposal (one vote per member); the vote reaching the threshold executes it.
    """
    assert self.is_committee_member[msg.sender], "not a committee member"
    self._vote(proposal_id, msg.sender)


@external
def execute(proposal_id: uint256):
    """
    @notice Execute a live proposal that already has enough votes (e.g. after the threshold was lowered).
    """
    assert self.is_committee_member[msg.sender], "not a committee member"
    self._check_live(proposal_id)
    assert self.proposals[proposal_id].votes >= self.threshold, "not enough votes"
    self._execute(proposal_id)


@view
@internal
def _check_live(proposal_id: uint256):
    assert proposal_id >= 1 and proposal_id <= self.proposal_count, "no such proposal"
    assert not self.proposals[proposal_id].executed, "proposal already executed"
    assert block.number < self.proposals[proposal_id].expiry_block, "proposal expired"


@internal
def _vote(proposal_id: uint256, voter: address):
    self._check_live(proposal_id)
    assert not self.has_voted[proposal_id][voter], "already voted"
    self.has_voted[proposal_id][voter] = True
    votes: uint256 = self.proposals[proposal_id].votes + 1
    self.proposals[proposal_id].votes = votes
    log ProposalVoted(proposal_id=proposal_id, voter=voter, votes=votes)
    if votes >= self.threshold:
        self._execute(proposal_id)


@internal
def _execute(proposal_id: uint256):
    self.proposals[proposal_id].executed = True
    action: uint8 = self.proposals[proposal_id].action
    self._apply(action, self.proposals[proposal_id].payload, proposal_id)
    log ProposalExecuted(proposal_id=proposal_id, action=action)


@internal
def _apply(action: uint8, payload: Bytes[MAX_PAYLOAD], proposal_id: uint256):
    if action == REGISTER_ORGANISATION:
        uscc: String[18] = empty(String[18])
        name: String[128] = empty(String[128])
        uscc, name = abi_decode(payload, (String[18], String[128]))
        self._register_organisation(uscc, name)
    elif action == SET_ORGANISATION_ACTIVE:
        org: String[18] = empty(String[18])
        org_active: bool = False
        org, org_active = abi_decode(payload, (String[18], bool))
        self._set_organisation_active(org, org_active)
    elif action == REGISTER_ACCOUNT:
        account: address = empty(address)
        account_org: String[18] = empty(String[18])
        account, account_org = abi_decode(payload, (address, String[18]))
        self._register_account(account, account_org)
    elif action == SET_ACCOUNT_ACTIVE:
        target: address = empty(address)
        target_active: bool = False
        target, target_active = abi_decode(payload, (address, bool))
        self._set_account_active(target, target_active)
    elif action == GRANT_ROLE or action == REVOKE_ROLE:
        holder: address = empty(address)
        role: bytes32 = empty(bytes32)
        scope: bytes32 = empty(bytes32)
        holder, role, scope = abi_decode(payload, (address, bytes32, bytes32))
        if action == GRANT_ROLE:
            self._grant_role(holder, role, scope, self)
        else:
            self._revoke_role(holder, role, scope, self)
    elif action == ADD_VALIDATOR:
        self._add_validator(abi_decode(payload, Bytes[64]))
    elif action == REMOVE_VALIDATOR:
        self._remove_validator(abi_decode(payload, Bytes[64]))
    elif action == SET_COMMITTEE_MEMBER:
        member: address = empty(address)
        is_member: bool = False
        member, is_member = abi_decode(payload, (address, bool))
        self._set_committee_member(member, is_member)
    elif action == SET_THRESHOLD:
        self._set_threshold(abi_decode(payload, uint256))
    elif action == SET_ROLE_ADMIN:
        administered: bytes32 = empty(bytes32)
        admin_role: bytes32 = empty(bytes32)
        administered, admin_role = abi_decode(payload, (bytes32, bytes32))
        self._set_role_admin(administered, admin_role)
    elif action == REGISTER_CONTRACT:
        contract_name: bytes32 = empty(bytes32)
        addr: address = empty(address)
        contract_name, addr = abi_decode(payload, (bytes32, address))
        self._register_contract(contract_name, addr)
    elif action == SET_CALENDAR_DAYS:
        days: DynArray[uint256, MAX_CALENDAR_DAYS] = []
        kind: uint8 = 0
        days, kind = abi_decode(payload, (DynArray[uint256, MAX_CALENDAR_DAYS], uint8))
        extcall self._calendar().set_days(days, kind)
    elif action == EXTEND_CALENDAR:
        covered_through: uint256 = 0
        holidays: DynArray[uint256, MAX_CALENDAR_DAYS] = []
        make_up_days: DynArray[uint256, MAX_CALENDAR_DAYS] = []
        covered_through, holidays, make_up_days = abi_decode(
            payload, (uint256, DynArray[uint256, MAX_CALENDAR_DAYS], DynArray[uint256, MAX_CALENDAR_DAYS])
        )
        calendar: Calendar = self._calendar()
        extcall calendar.set_days(holidays, CALENDAR_HOLIDAY)
        extcall calendar.set_days(make_up_days, CALENDAR_MAKE_UP)
        extcall calendar.set_covered_through(covered_through)
    elif action == UPGRADE_CONTRACT:
        self._schedule_upgrade(proposal_id, payload)
    elif action == ADD_TRUST_ANCHOR:
        self._add_trust_anchor(abi_decode(payload, Bytes[MAX_CERTIFICATE_BYTES]))
    elif action == REMOVE_TRUST_ANCHOR:
        self._remove_trust_anchor(abi_decode(payload, bytes32))
    elif action == BIND_CERTIFICATE:
        bound: address = empty(address)
        certificate: Bytes[MAX_CERTIFICATE_BYTES] = b""
        bound, certificate = abi_decode(payload, (address, Bytes[MAX_CERTIFICATE_BYTES]))
        self._bind_certificate(bound, certificate)
    elif action == UNBIND_CERTIFICATE:
        self._unbind_certificate(abi_decode(payload, address))
    else:
        raise "unknown action"


@internal
def _schedule_upgrade(proposal_id: uint256, payload: Bytes[MAX_PAYLOAD]):
    target: address = empty(address)
    code_hash: bytes32 = empty(bytes32)
    activation_block: uint256 = 0
    migration: Bytes[MAX_MIGRATION_BYTES] = b""
    target, code_hash, activation_block, migration = abi_decode(
        payload, (address, bytes32, uint256, Bytes[MAX_MIGRATION_BYTES])
    )
    self._check_upgrade(target, activation_block)  # again: blocks passed while the committee voted
    self.upgrade_at[activation_block] = proposal_id
    self.upgrades[proposal_id] = Upgrade(
        target=target,
        code_hash=code_hash,
        activation_block=activation_block,
        migration=migration,
        status=UPGRADE_SCHEDULED,
        previous_code_hash=empty(bytes32),
    )
    log UpgradeScheduled(
        proposal_id=proposal_id, target=target, code_hash=code_hash, activation_block=activation_block
    )


@view
@internal
def _calendar() -> Calendar:
    calendar: address = self.contracts[CALENDAR_NAME]
    assert calendar != empty(address), "no calendar registered"
    return Calendar(calendar)


# --- state changes (shared by genesis, proposals and delegated grants) -----------------------------------
@internal
def _register_organisation(uscc: String[18], name: String[128]):
    assert len(uscc) == 18, "USCC must be 18 characters"
    assert len(name) > 0, "empty organisation name"
    assert not self.organisations[uscc].registered, "organisation already registered"
    self.organisations[uscc] = Organisation(name=name, active=True, registered=True)
    log OrganisationRegistered(uscc=uscc, name=name)


@internal
def _set_organisation_active(uscc: String[18], active: bool):
    assert self.organisations[uscc].registered, "unknown organisation"
    self.organisations[uscc].active = active
    log OrganisationActiveSet(uscc=uscc, active=active)


@internal
def _register_account(account: address, uscc: String[18]):
    assert account != empty(address), "zero address"
    assert self.organisations[uscc].registered, "unknown organisation"
    assert not self.accounts[account].registered, "account already registered"
    self.accounts[account] = Account(uscc=uscc, active=True, registered=True)
    log AccountRegistered(account=account, uscc=uscc)


@internal
def _set_account_active(account: address, active: bool):
    assert self.accounts[account].registered, "unknown account"
    self.accounts[account].active = active
    log AccountActiveSet(account=account, active=active)


@internal
def _grant_role(account: address, role: bytes32, scope: bytes32, by: address):
    assert role != empty(bytes32), "empty role"
    assert self.accounts[account].registered, "unknown account"
    assert not self.role_granted[account][role][scope], "role already granted"
    self.role_granted[account][role][scope] = True
    log RoleGranted(account=account, role=role, scope=scope, by=by)


@internal
def _revoke_role(account: address, role: bytes32, scope: bytes32, by: address):
    assert self.role_granted[account][role][scope], "role not granted"
    self.role_granted[account][role][scope] = False
    log RoleRevoked(account=account, role=role, scope=scope, by=by)


@internal
def _set_role_admin(role: bytes32, admin_role: bytes32):
    assert role != empty(bytes32), "empty role"
    assert role != admin_role, "role cannot administer itself"
    self.role_admin[role] = admin_role
    log RoleAdminSet(role=role, admin_role=admin_role)


@internal
def _add_validator(public_key: Bytes[64]):
    assert len(public_key) == VALIDATOR_KEY_BYTES, "validator key must be 64 bytes"
    key_id: bytes32 = keccak256(public_key)
    assert not self.is_validator[key_id], "validator already in set"
    assert len(self.validators) < MAX_VALIDATORS, "validator set full"
    self.is_validator[key_id] = True
    self.validators.append(public_key)
    self.validator_set_version += 1
    log ValidatorAdded(public_key=public_key, validator_set_version=self.validator_set_version)


@internal
def _remove_validator(public_key: Bytes[64]):
    key_id: bytes32 = keccak256(public_key)
    assert self.is_validator[key_id], "not a validator"
    assert len(self.validators) > 1, "cannot remove the last validator"
    self.is_validator[key_id] = False
    kept: DynArray[Bytes[64], MAX_VALIDATORS] = []
    for v: Bytes[64] in self.validators:
        if keccak256(v) != key_id:
            kept.append(v)
    self.validators = kept
    self.validator_set_version += 1
    log ValidatorRemoved(public_key=public_key, validator_set_version=self.validator_set_version)


@internal
def _set_committee_member(account: address, member: bool):
    if member:
        assert self.accounts[account].registered, "unknown account"
        assert not self.is_committee_member[account], "already a committee member"
        assert len(self.committee) < MAX_COMMITTEE, "committee full"
        self.is_committee_member[account] = True
        self.committee.append(account)
    else:
        assert self.is_committee_member[account], "not a committee member"
        assert len(self.committee) > self.threshold, "threshold exceeds committee size"
        self.is_committee_member[account] = False
        kept: DynArray[address, MAX_COMMITTEE] = []
        for m: address in self.committee:
            if m != account:
                kept.append(m)
        self.committee = kept
    log CommitteeMemberSet(account=account, member=member)


@internal
def _set_threshold(threshold: uint256):
    assert threshold >= 1 and threshold <= len(self.committee), "invalid threshold"
    self.threshold = threshold
    log ThresholdSet(threshold=threshold)


@internal
def _register_contract(name: bytes32, addr: address):
    assert name != empty(bytes32), "empty contract name"
    assert addr != empty(address), "zero address"
    previous: address = self.contracts[name]
    if previous != empty(address):
        self.system_contract_names[previous] = empty(bytes32)
    self.contracts[name] = addr
    self.system_contract_names[addr] = name
    log ContractRegistered(name=name, addr=addr, previous=previous)
