# pragma version 0.4.3
# pragma evm-version prague
# pragma optimize codesize
"""
@title Xinlian DrugTrace: drug products, serialised trace codes, packing, custody and batch holds (药品追溯)
@notice One record per trace code: who holds it, its status, its batch; packing links a child to its parent.
        Every change emits an event; a refused movement emits an Alert (see "Refusals" below).

Identifiers (computed off chain by the SDK, never in clear on the ledger)
-----------------------------------------------------------------------
* code id    = the first 8 bytes of its product id || the first 24 bytes of SM3(b"xinlian/drug-code/2" ||
               0x00 || canonical code), canonical code = the 20 digits of an NMPA code, or
               "(01)<GTIN-14>(21)<serial>" for a GS1 code. Hashing keeps valid codes from being harvested off
               the public ledger and printed on counterfeits; the product prefix lets `commission` refuse a
               code of another product (another maker's codes, learnt before their maker commissions them).
* product id = SM3(b"xinlian/drug-product/1" || 0x00 || product key), product key = the 7-digit 药品标识码 or
               the GTIN-14 (one per packaging level). Product keys are public (printed on every pack), so
               `register_product` takes the key in clear and derives the id with the SM3 precompile.
* A product may `pack` another (a case product packs the unit product): all levels of one drug share a lot
  per batch number, so a recall or freeze of batch B stops units, bundles and cases of B alike.
* Dates are days since 1970-01-01. A batch expires at 00:00 China Standard Time (UTC+8) after its expiry day.

Per-code storage (one slot written per code at commissioning)
-------------------------------------------------------------
`words[code]` packs: status (bits 0-7) | level (8-14) | packed flag (15) | batch index (16-47) |
shipment id (48-95) | custodian (96-255). Zero means "never commissioned". `parent_of[code]` is written
only when packed and read only when the packed flag is set (a check of a loose code reads one slot).
Per batch, `gates[batch]` packs what every check reads: the expiry instant (bits 0-63) | lot index (64-).
A shipment is two words (`shipment_senders`, `shipment_receivers`); `get_shipment` unpacks them.
A packed code's effective status, custodian and shipment are its root ancestor's: moving a case writes the
case only, and views and checks walk up the parent chain (at most MAX_DEPTH levels, levels strictly rise).

Refusals: revert vs alert
-------------------------
* A malformed call or a caller without the role reverts with a reason (nothing is recorded): unknown
  product or batch, bad level or bill type, empty or oversized list, duplicate in the list, receiver
  without a drug-trade role, caller not the shipment's receiver, missing MAH/DISTRIBUTOR/DISPENSER/regulator.
* A refusal caused by a code's state is a *successful* transaction that emits `Alert(code, actor, action,
  reason)` for every offending code, changes nothing else and returns False (0 for `ship`): the whole call is
  refused, atomically. Reasons: "unknown code", "already commissioned", "not the custodian", "already
  dispensed", "destroyed", "in transit", "packed in a parent", "not packed in this parent",
  "not in this shipment", "frozen", "recalled", "expired", "level not below parent".
* Holds: frozen blocks every movement except receiving; recalled or expired codes may still be unpacked,
  destroyed, or shipped back as a return (202) or recall (211).

Who may change what (separation of duties; docs/permissions.md lists every function and caller)
---------------------------------------------------------------------------------------------
* Product keys belong to makers: a DRUG_REGULATOR binds a key prefix to an MAH organisation
  (`assign_key_prefix`: a block of NMPA 药品标识码, or a GS1 company prefix 厂商识别代码 as it follows the
  GTIN-14 indicator digit). `register_product` accepts a key only from an MAH account of the organisation
  bound to the key's longest bound prefix, so nobody registers another maker's GTIN or 药品标识码 first.
* Disputes: a DRUG_REGULATOR settles a contested registration (`settle_product`): it moves the product to
  another MAH organisation and/or suspends it (a suspended product commissions no codes) or lifts the
  suspension; each ruling is a `ProductSettled` event. A regulator never binds a prefix or moves a product
  to its own organisation.
* Freezes: a DRUG_REGULATOR's `freeze` is a regulatory freeze that only a DRUG_REGULATOR lifts. The
  product's MAH may `freeze` its own batch as a voluntary hold, and `unfreeze` lifts only that hold, never a
  regulator's freeze. Either stops every movement but receipts. Recalls: the product's MAH or a regulator.
"""

struct Organisation:
    # Governance.organisations(uscc), as that contract returns it
    name: String[128]
    active: bool
    registered: bool

interface Governance:
    def has_role(account: address, role: bytes32, scope: bytes32) -> bool: view
    def organisation_of(account: address) -> String[18]: view
    def organisations(uscc: String[18]) -> Organisation: view

# --- roles (Governance ids) ----------------------------------------------------------------------------
DRUG_REGULATOR: constant(bytes32) = keccak256("DRUG_REGULATOR")
MAH: constant(bytes32) = keccak256("MAH")
DISTRIBUTOR: constant(bytes32) = keccak256("DISTRIBUTOR")
DISPENSER: constant(bytes32) = keccak256("DISPENSER")

# --- limits --------------------------------------------------------------------------------------------
MAX_CODES: public(constant(uint256)) = 200  # codes per call
MAX_DEPTH: constant(uint256) = 3  # parent links above a code: unit -> bundle -> case

# --- code status (0 = unknown) -------------------------------------------------------------------------
ACTIVE: public(constant(uint8)) = 1
IN_TRANSIT: public(constant(uint8)) = 2
DISPENSED: public(constant(uint8)) = 3
DESTROYED: public(constant(uint8)) = 4

# --- packaging levels ----------------------------------------------------------------------------------
UNIT: public(constant(uint8)) = 1
BUNDLE: public(constant(uint8)) = 2
CASE: public(constant(uint8)) = 3

# --- key categories (NMPA traces these first) ----------------------------------------------------------
CATEGORY_ORDINARY: public(constant(uint8)) = 0
CATEGORY_VACCINE: public(constant(uint8)) = 1
CATEGORY_NARCOTIC: public(constant(uint8)) = 2
CATEGORY_PSYCHOTROPIC: public(constant(uint8)) = 3
CATEGORY_BLOOD_PRODUCT: public(constant(uint8)) = 4

# --- outbound bill types (码上放心); 205 destruction is `destroy` ------------------------------------------
BILL_SALE: public(constant(uint16)) = 201
BILL_RETURN: public(constant(uint16)) = 202
BILL_TRANSFER: public(constant(uint16)) = 203
BILL_SAMPLING: public(constant(uint16)) = 206
BILL_DIRECT: public(constant(uint16)) = 207
BILL_RECALL: public(constant(uint16)) = 211

# --- actions named in alerts ---------------------------------------------------------------------------
ACTION_COMMISSION: public(constant(uint8)) = 1
ACTION_AGGREGATE: public(constant(uint8)) = 2
ACTION_DISAGGREGATE: public(constant(uint8)) = 3
ACTION_SHIP: public(constant(uint8)) = 4
ACTION_RECEIVE: public(constant(uint8)) = 5
ACTION_DISPENSE: public(constant(uint8)) = 6
ACTION_DESTROY: public(constant(uint8)) = 7
ACTION_CANCEL: public(constant(uint8)) = 8

# --- shipment status -----------------------------------------------------------------------------------
SHIPMENT_OPEN: public(constant(uint8)) = 1
SHIPMENT_RECEIVED: public(constant(uint8)) = 2
SHIPMENT_CANCELLED: public(constant(uint8)) = 3

# --- product registration status (0 = not registered) -------------------------------------------------
PRODUCT_ACTIVE: public(constant(uint8)) = 1
PRODUCT_SUSPENDED: public(constant(uint8)) = 2  # by a drug regulator: commissions no codes

# --- product keys and their prefixes -------------------------------------------------------------------
KEY_NMPA: public(constant(uint8)) = 1  # 7-digit 药品标识码; a prefix is a block of its leading digits
KEY_GS1: public(constant(uint8)) = 2  # GTIN-14; a prefix is a GS1 company prefix after the indicator digit
NMPA_KEY_LENGTH: constant(uint256) = 7
GTIN_LENGTH: constant(uint256) = 14
MIN_PREFIX_LENGTH: constant(uint256) = 4
MAX_NMPA_PREFIX_LENGTH: constant(uint256) = 7  # the whole 药品标识码
MAX_GS1_PREFIX_LENGTH: constant(uint256) = 12  # company prefix + item reference (one GTIN)
SM3_PRECOMPILE: constant(address) = 0x0000000000000000000000000000000000000a01
PRODUCT_TAG: constant(Bytes[23]) = b"xinlian/drug-product/1\x00"  # tag || 0x00 of the product id
DRUG_LOTS: constant(address) = 0x0000000000000000000000000000000000001006  # the lots' contract (DrugLots.vy)

# --- lot flags -----------------------------------------------------------------------------------------
LOT_RECALLED: constant(uint256) = 1
LOT_FROZEN: constant(uint256) = 2  # a drug regulator's freeze: only a drug regulator lifts it
LOT_MAH_HOLD: constant(uint256) = 4  # the MAH's voluntary hold: only the product's MAH lifts it
LOT_STOPPED: constant(uint256) = LOT_FROZEN | LOT_MAH_HOLD  # either stops every movement but receipts

# --- refusal reasons (internal; an Alert carries the text) ---------------------------------------------
R_NONE: constant(uint256) = 0
R_UNKNOWN: constant(uint256) = 1
R_COMMISSIONED: constant(uint256) = 2
R_NOT_CUSTODIAN: constant(uint256) = 3
R_DISPENSED: constant(uint256) = 4
R_DESTROYED: constant(uint256) = 5
R_IN_TRANSIT: constant(uint256) = 6
R_PACKED: constant(uint256) = 7
R_NOT_IN_PARENT: constant(uint256) = 8
R_NOT_IN_SHIPMENT: constant(uint256) = 9
R_FROZEN: constant(uint256) = 10
R_RECALLED: constant(uint256) = 11
R_EXPIRED: constant(uint256) = 12
R_LEVEL: constant(uint256) = 13

DAY_SECONDS: constant(uint256) = 86400
CST_OFFSET_SECONDS: constant(uint256) = 28800  # UTC+8

# --- word layouts --------------------------------------------------------------------------------------
W_ACTIVE: constant(uint256) = 1
W_IN_TRANSIT: constant(uint256) = 2
W_DISPENSED: constant(uint256) = 3
W_DESTROYED: constant(uint256) = 4
LEVEL_SHIFT: constant(uint256) = 8
BATCH_SHIFT: constant(uint256) = 16
SHIPMENT_SHIFT: constant(uint256) = 48
CUSTODIAN_SHIFT: constant(uint256) = 96
BYTE_MASK: constant(uint256) = 255
LEVEL_MASK: constant(uint256) = 127
PACKED_FLAG: constant(uint256) = 32768  # bit 15: the code is packed in a parent
BATCH_MASK: constant(uint256) = 4294967295  # 32 bits
SHIPMENT_MASK: constant(uint256) = 281474976710655  # 48 bits
# a code word without status, packed flag, shipment and custodian: level and batch
LEVEL_BATCH_MASK: constant(uint256) = 281474976677632  # bits 8-14 and 16-47
TIME_MASK: constant(uint256) = 18446744073709551615  # 64 bits
LOT_SHIFT: constant(uint256) = 64
ADDRESS_MASK: constant(uint256) = 1461501637330902918203684832716283019655932542975  # 160 bits
# status, packed flag and custodian: what the fast path compares with "active, loose, held by the caller"
HOLDING_MASK: constant(uint256) = (ADDRESS_MASK << CUSTODIAN_SHIFT) | PACKED_FLAG | BYTE_MASK
# shipment_senders[id] = sender | bill type << 160 | status << 176
# shipment_receivers[id] = receiver | remaining << 160 | count << 208
BILL_SHIFT: constant(uint256) = 160
SHIPMENT_STATUS_SHIFT: constant(uint256) = 176
REMAINING_SHIFT: constant(uint256) = 160
COUNT_SHIFT: constant(uint256) = 208

# --- types ---------------------------------------------------------------------------------------------
struct Product:
    mah_org: String[18]  # USCC of the marketing authorisation holder
    name: String[128]
    approval_number: String[32]  # 批准文号
    category: uint8
    drug: bytes32  # the product id whose lots this product shares (itself for a base product)
    status: uint8  # 0 not registered, PRODUCT_ACTIVE or PRODUCT_SUSPENDED

struct Batch:
    product: bytes32
    lot: bytes32  # keccak256(abi_encode(drug, batch_no)): recall / freeze key shared by all levels
    batch_no: String[20]
    production_day: uint32
    expiry_day: uint32
    commissioned: uint256

struct Shipment:
    sender: address
    receiver: address
    bill_type: uint16
    count: uint256
    remaining: uint256
    status: uint8  # 0 = no such shipment

struct CodeInfo:
    known: bool
    product: bytes32
    batch_no: String[20]
    production_day: uint32
    expiry_day: uint32
    level: uint8
    status: uint8  # effective (the root ancestor's)
    custodian: address  # effective
    shipment: uint256  # effective: the open shipment carrying it, or 0
    parent: bytes32
    recalled: bool
    frozen: bool
    expired: bool

struct BatchInfo:
    known: bool
    product: bytes32
    lot: bytes32
    production_day: uint32
    expiry_day: uint32
    commissioned: uint256
    recalled: bool
    frozen: bool  # a regulator's freeze or the MAH's voluntary hold: nothing moves but receipts
    expired: bool
    regulator_freeze: bool  # lifted only by a drug regulator
    mah_hold: bool  # lifted only by the product's MAH

# --- events --------------------------------------------------------------------------------------------
event ProductRegistered:
    product: indexed(bytes32)
    product_key: String[14]
    mah_org: String[18]
    name: String[128]
    approval_number: String[32]
    category: uint8
    packs: bytes32
    by: address

event BatchCommissioned:
    product: indexed(bytes32)
    lot: indexed(bytes32)
    batch_no: String[20]
    production_day: uint32
    expiry_day: uint32
    level: uint8
    count: uint256
    by: address

event Commissioned:
    code: indexed(bytes32)
    by: indexed(address)

event Aggregated:
    code: indexed(bytes32)  # the child
    parent: indexed(bytes32)
    by: indexed(address)

event Disaggregated:
    code: indexed(bytes32)  # the child
    parent: indexed(bytes32)
    by: indexed(address)

event ShipmentCreated:
    shipment: indexed(uint256)
    sender: indexed(address)
    receiver: indexed(address)
    bill_type: uint16
    count: uint256

event Shipped:
    code: indexed(bytes32)
    shipment: indexed(uint256)
    receiver: indexed(address)

event Received:
    code: indexed(bytes32)
    shipment: indexed(uint256)
    receiver: indexed(address)

event ShipmentClosed:
    shipment: indexed(uint256)
    status: uint8
    by: address

event ShipmentCancelledCode:
    code: indexed(bytes32)
    shipment: indexed(uint256)
    by: indexed(address)

event Dispensed:
    code: indexed(bytes32)
    by: indexed(address)

event Destroyed:
    code: indexed(bytes32)
    by: indexed(address)

event BatchHoldSet:
    lot: indexed(bytes32)
    product: indexed(bytes32)
    batch_no: String[20]
    recalled: bool
    regulator_freeze: bool
    mah_hold: bool
    reason: String[128]
    by: address

event KeyPrefixAssigned:
    scheme: indexed(uint8)
    prefix: String[12]
    mah_org: String[18]  # "" when the binding was withdrawn
    previous_org: String[18]
    reason: String[128]
    by: address

event ProductSettled:
    product: indexed(bytes32)
    previous_org: String[18]
    mah_org: String[18]
    suspended: bool
    reason: String[128]
    by: address

event Alert:
    code: indexed(bytes32)
    actor: indexed(address)
    action: uint8
    reason: String[32]

# --- state ---------------------------------------------------------------------------------------------
initialized: public(bool)
governance: public(address)

products: public(HashMap[bytes32, Product])
key_prefix_orgs: HashMap[bytes32, String[18]]  # keccak256(abi_encode(scheme, prefix)) -> MAH organisation
batches: public(HashMap[uint256, Batch])  # index 1, 2, ...
batch_count: public(uint256)
batch_index: HashMap[bytes32, uint256]  # keccak256(abi_encode(product, batch_no)) -> index
gates: HashMap[uint256, uint256]  # batch index -> expiry instant | lot index << 64
lot_index: HashMap[bytes32, uint256]  # lot key -> index 1, 2, ...
lot_count: uint256
lot_flags: HashMap[uint256, uint256]  # lot index -> LOT_RECALLED | LOT_FROZEN

words: HashMap[bytes32, uint256]
parent_of: public(HashMap[bytes32, bytes32])

shipment_senders: HashMap[uint256, uint256]
shipment_receivers: HashMap[uint256, uint256]
shipment_count: public(uint256)


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


# --- roles ---------------------------------------------------------------------------------------------
@view
@internal
def _has(account: address, role: bytes32) -> bool:
    return staticcall Governance(self.governance).has_role(account, role, empty(bytes32))


@view
@internal
def _is_trader(account: address, first: bytes32, second: bytes32, third: bytes32) -> bool:
    # a drug-trade account holds MAH, DISTRIBUTOR or DISPENSER; callers ask the likeliest role first
    return self._has(account, first) or self._has(account, second) or self._has(account, third)


@view
@internal
def _require_trader(account: address):
    assert self._is_trader(account, DISTRIBUTOR, MAH, DISPENSER), "not a MAH, distributor or dispenser"


@view
@internal
def _is_products_mah(account: address, product: bytes32) -> bool:
    # an account of the product's MAH organisation holding MAH
    if not self._has(account, MAH):
        return False
    org: String[18] = staticcall Governance(self.governance).organisation_of(account)
    return org == self.products[product].mah_org


@view
@internal
def _require_batch_authority(account: address, product: bytes32):
    # the product's MAH or the drug regulator
    if self._has(account, DRUG_REGULATOR):
        return
    assert self._is_products_mah(account, product), "not the product's MAH or the drug regulator"


@view
@internal
def _require_regulator(account: address):
    assert self._has(account, DRUG_REGULATOR), "not a drug regulator"


@view
@internal
def _require_assignable(org: String[18]):
    # a regulator binds keys or products only to a registered, active organisation other than its own
    record: Organisation = staticcall Governance(self.governance).organisations(org)
    assert record.registered and record.active, "unknown or inactive organisation"
    own: String[18] = staticcall Governance(self.governance).organisation_of(msg.sender)
    assert org != own, "regulator's own organisation"


# --- the code check: walk up the parent chain once ----------------------------------------------------
@view
@internal
def _holds(word: uint256) -> (uint256, bool):
    # lot flags of the code's batch, and whether that batch has expired
    gate: uint256 = self.gates[(word >> BATCH_SHIFT) & BATCH_MASK]
    return self.lot_flags[gate >> LOT_SHIFT], block.timestamp >= gate & TIME_MASK


@view
@internal
def _check(code: bytes32, sender: address, lenient: bool, top_level: bool) -> (uint256, uint256, uint256, bool):
    """
    @dev Why `code` may not move for `sender` (R_NONE = it may), the root ancestor's word, the lot flags of
         the code and its ancestors, and whether any of their batches has expired. `lenient` lets recalled
         and expired codes pass (returns, recalls, destruction, unpacking).
    """
    word: uint256 = self.words[code]
    if word == 0:
        return R_UNKNOWN, 0, 0, False
    flags: uint256 = 0
    expired: bool = False
    flags, expired = self._holds(word)
    root_word: uint256 = word
    packed: bool = word & PACKED_FLAG != 0
    parent: bytes32 = empty(bytes32)
    if packed:
        parent = self.parent_of[code]
    for i: uint256 in range(MAX_DEPTH):
        if parent == empty(bytes32):
            break
        root_word = self.words[parent]
        parent_flags: uint256 = 0
        parent_expired: bool = False
        parent_flags, parent_expired = self._holds(root_word)
        flags = flags | parent_flags
        expired = expired or parent_expired
        if root_word & PACKED_FLAG == 0:
            break
        parent = self.parent_of[parent]
    status: uint256 = root_word & BYTE_MASK
    reason: uint256 = R_NONE
    if status == W_DISPENSED:
        reason = R_DISPENSED
    elif status == W_DESTROYED:
        reason = R_DESTROYED
    elif status == W_IN_TRANSIT:
        reason = R_IN_TRANSIT
    elif root_word >> CUSTODIAN_SHIFT != convert(sender, uint256):
        reason = R_NOT_CUSTODIAN
    elif packed and top_level:
        reason = R_PACKED
    elif flags & LOT_STOPPED != 0:
        reason = R_FROZEN
    elif flags & LOT_RECALLED != 0 and not lenient:
        reason = R_RECALLED
    elif expired and not lenient:
        reason = R_EXPIRED
    return reason, root_word, flags, expired


@view
@internal
def _is_clear(batch: uint256, lenient: bool) -> bool:
    # no hold on the batch's lot stops a move (a recall does not stop a lenient one) and, unless lenient,
    # the batch has not expired
    gate: uint256 = self.gates[batch]
    flags: uint256 = self.lot_flags[gate >> LOT_SHIFT]
    if flags & LOT_STOPPED != 0:
        return False
    if lenient:
        return True
    return flags == 0 and block.timestamp < gate & TIME_MASK


@pure
@internal
def _reason_text(reason: uint256) -> String[32]:
    if reason == R_UNKNOWN:
        return "unknown code"
    if reason == R_COMMISSIONED:
        return "already commissioned"
    if reason == R_NOT_CUSTODIAN:
        return "not the custodian"
    if reason == R_DISPENSED:
        return "already dispensed"
    if reason == R_DESTROYED:
        return "destroyed"
    if reason == R_IN_TRANSIT:
        return "in transit"
    if reason == R_PACKED:
        return "packed in a parent"
    if reason == R_NOT_IN_PARENT:
        return "not packed in this parent"
    if reason == R_NOT_IN_SHIPMENT:
        return "not in this shipment"
    if reason == R_FROZEN:
        return "frozen"
    if reason == R_RECALLED:
        return "recalled"
    if reason == R_EXPIRED:
        return "expired"
    return "level not below parent"


@internal
def _alert(code: bytes32, action: uint8, reason: uint256):
    log Alert(code=code, actor=msg.sender, action=action, reason=self._reason_text(reason))


# --- product keys and products ------------------------------------------------------------------------
@pure
@internal
def _is_digits(text: String[14]) -> bool:
    raw: Bytes[14] = convert(text, Bytes[14])
    for i: uint256 in range(len(raw), bound=14):
        c: uint256 = convert(slice(raw, i, 1), uint256)
        if c < 48 or c > 57:  # "0" .. "9"
            return False
    return True


@pure
@internal
def _prefix_slot(scheme: uint8, prefix: String[14]) -> bytes32:
    return keccak256(abi_encode(scheme, prefix))


@view
@internal
def _registrant_of(product_key: String[14]) -> String[18]:
    """
    @dev The MAH organisation bound to the key's longest bound prefix, or "". Prefixes are taken from the
         whole 药品标识码, or from the GTIN-14 after its indicator digit (where the GS1 company prefix starts).
    """
    assert self._is_digits(product_key), "a product key is 7 or 14 digits"
    scheme: uint8 = KEY_NMPA
    start: uint256 = 0
    longest: uint256 = MAX_NMPA_PREFIX_LENGTH
    if len(product_key) == GTIN_LENGTH:
        scheme = KEY_GS1
        start = 1
        longest = MAX_GS1_PREFIX_LENGTH
    else:
        assert len(product_key) == NMPA_KEY_LENGTH, "a product key is 7 or 14 digits"
    for i: uint256 in range(MAX_GS1_PREFIX_LENGTH - MIN_PREFIX_LENGTH + 1):
        length: uint256 = longest - i
        if length < MIN_PREFIX_LENGTH:
            break
        org: String[18] = self.key_prefix_orgs[self._prefix_slot(scheme, slice(product_key, start, length))]
        if len(org) > 0:
            return org
    return ""


@view
@internal
def _product_id(product_key: String[14]) -> bytes32:
    # SM3(PRODUCT_TAG || 0x00 || key), as the SDK computes it
    digest: Bytes[32] = raw_call(
        SM3_PRECOMPILE, concat(PRODUCT_TAG, convert(product_key, Bytes[14])), max_outsize=32, is_static_call=True
    )
    return extract32(digest, 0)


@external
def assign_key_prefix(scheme: uint8, prefix: String[12], mah_org: String[18], reason: String[128]):
    """
    @notice A drug regulator binds a product-key prefix to an MAH organisation (its USCC), or withdraws the
            binding (`mah_org` ""): KEY_NMPA, a block of 4-7 leading digits of the 药品标识码 the code issuer
            assigned to the MAH; KEY_GS1, a GS1 company prefix (厂商识别代码, 4-12 digits as it follows the
            GTIN-14 indicator digit). Only that organisation's MAH accounts then register products whose key
            falls under it (the longest bound prefix decides). Products registered before stay as they are:
            `settle_product` moves a contested one.
    """
    self._require_regulator(msg.sender)
    longest: uint256 = MAX_NMPA_PREFIX_LENGTH if scheme == KEY_NMPA else MAX_GS1_PREFIX_LENGTH
    assert scheme == KEY_NMPA or scheme == KEY_GS1, "unknown key scheme"
    assert len(prefix) >= MIN_PREFIX_LENGTH and len(prefix) <= longest, "prefix length out of range"
    assert self._is_digits(prefix), "a prefix is digits"
    assert len(reason) > 0, "empty reason"
    if len(mah_org) > 0:
        self._require_assignable(mah_org)
    slot: bytes32 = self._prefix_slot(scheme, prefix)
    previous: String[18] = self.key_prefix_orgs[slot]
    assert previous != mah_org, "prefix already bound so"
    self.key_prefix_orgs[slot] = mah_org
    log KeyPrefixAssigned(
        scheme=scheme, prefix=prefix, mah_org=mah_org, previous_org=previous, reason=reason, by=msg.sender
    )


@external
def register_product(
    product_key: String[14], name: String[128], approval_number: String[32], category: uint8, packs: bytes32
) -> bytes32:
    """
    @notice Register a product (one per 药品标识码 / GTIN-14) for the caller's organisation as MAH. The key must
            fall under a prefix a drug regulator bound to that organisation (`assign_key_prefix`).
    @param packs the product this one packs (e.g. the unit product of a case), or empty: they share lots.
    @return the product id, SM3(b"xinlian/drug-product/1" || 0x00 || product_key).
    """
    assert self._has(msg.sender, MAH), "not a MAH"
    org: String[18] = staticcall Governance(self.governance).organisation_of(msg.sender)
    assert self._registrant_of(product_key) == org, "product key not assigned to you"
    product: bytes32 = self._product_id(product_key)
    assert self.products[product].status == 0, "product already registered"
    assert len(name) > 0, "empty product name"
    assert len(approval_number) > 0, "empty approval number"
    assert category <= CATEGORY_BLOOD_PRODUCT, "unknown category"
    drug: bytes32 = product
    if packs != empty(bytes32):
        assert self.products[packs].status != 0, "packed product unknown"
        assert self.products[packs].mah_org == org, "packed product belongs to another MAH"
        assert self.products[packs].status == PRODUCT_ACTIVE, "packed product suspended"
        drug = self.products[packs].drug
    self.products[product] = Product(
        mah_org=org,
        name=name,
        approval_number=approval_number,
        category=category,
        drug=drug,
        status=PRODUCT_ACTIVE,
    )
    log ProductRegistered(
        product=product,
        product_key=product_key,
        mah_org=org,
        name=name,
        approval_number=approval_number,
        category=category,
        packs=packs,
        by=msg.sender,
    )
    return product


@external
def settle_product(product: bytes32, mah_org: String[18], suspended: bool, reason: String[128]):
    """
    @notice A drug regulator settles a contested registration: which MAH organisation holds the product (it then
            commissions it and answers for its batches; codes keep their custodians), and whether the
            registration is suspended (no code of it is commissioned; codes already out move on, `freeze`
            stops them). Each ruling is a ProductSettled event.
    """
    self._require_regulator(msg.sender)
    assert self.products[product].status != 0, "unknown product"
    assert len(reason) > 0, "empty reason"
    previous: String[18] = self.products[product].mah_org
    if mah_org != previous:
        self._require_assignable(mah_org)
        self.products[product].mah_org = mah_org
    self.products[product].status = PRODUCT_SUSPENDED if suspended else PRODUCT_ACTIVE
    log ProductSettled(
        product=product, previous_org=previous, mah_org=mah_org, suspended=suspended, reason=reason, by=msg.sender
    )


# --- commissioning -------------------------------------------------------------------------------------
@internal
def _open_batch(product: bytes32, batch_no: String[20], production_day: uint32, expiry_day: uint32) -> uint256:
    # the batch's index, created on first use; later commissionings must repeat its dates
    key: bytes32 = keccak256(abi_encode(product, batch_no))
    batch: uint256 = self.batch_index[key]
    if batch != 0:
        assert self.batches[batch].production_day == production_day, "batch production day differs"
        assert self.batches[batch].expiry_day == expiry_day, "batch expiry day differs"
        return batch
    batch = self.batch_count + 1
    assert batch <= BATCH_MASK, "too many batches"
    self.batch_count = batch
    self.batch_index[key] = batch
    lot: bytes32 = keccak256(abi_encode(self.products[product].drug, batch_no))
    lot_id: uint256 = self.lot_index[lot]
    if lot_id == 0:
        lot_id = self.lot_count + 1
        self.lot_count = lot_id
        self.lot_index[lot] = lot_id
    expires_at: uint256 = (convert(expiry_day, uint256) + 1) * DAY_SECONDS - CST_OFFSET_SECONDS
    self.gates[batch] = expires_at | (lot_id << LOT_SHIFT)
    self.batches[batch] = Batch(
        product=product,
        lot=lot,
        batch_no=batch_no,
        production_day=production_day,
        expiry_day=expiry_day,
        commissioned=0,
    )
    return batch


@external
def commission(
    product: bytes32,
    batch_no: String[20],
    production_day: uint32,
    expiry_day: uint32,
    level: uint8,
    codes: DynArray[bytes32, MAX_CODES],
) -> bool:
    """
    @notice Commission up to MAX_CODES codes of one batch (created on first use; later calls must repeat its
            dates). The caller holds MAH for the product's organisation and becomes the custodian.
    @return True, or False with an "already commissioned" Alert per code seen before (nothing recorded).
    """
    assert len(codes) > 0, "no codes"
    return self._commission(msg.sender, product, batch_no, production_day, expiry_day, level, codes)


@external
def commission_for(
    mah: address,
    product: bytes32,
    batch_no: String[20],
    production_day: uint32,
    expiry_day: uint32,
    level: uint8,
    codes: DynArray[bytes32, MAX_CODES],
) -> bool:
    """
    @notice `commission` by `mah` of codes DrugLots proved in a lot `mah` commissioned; with no codes, only
            its checks and the batch. Only DrugLots calls it.
    """
    assert msg.sender == DRUG_LOTS, "only DrugLots"
    return self._commission(mah, product, batch_no, production_day, expiry_day, level, codes)


@internal
def _commission(
    mah: address,
    product: bytes32,
    batch_no: String[20],
    production_day: uint32,
    expiry_day: uint32,
    level: uint8,
    codes: DynArray[bytes32, MAX_CODES],
) -> bool:
    product_status: uint8 = self.products[product].status
    assert product_status != 0, "unknown product"
    assert level >= UNIT and level <= CASE, "unknown packaging level"
    assert len(batch_no) > 0, "empty batch number"
    assert expiry_day >= production_day, "expiry before production"
    assert self._has(mah, MAH), "not a MAH"
    org: String[18] = staticcall Governance(self.governance).organisation_of(mah)
    assert org == self.products[product].mah_org, "not the product's MAH"
    assert product_status == PRODUCT_ACTIVE, "product registration suspended"

    refused: bool = False
    for code: bytes32 in codes:
        if self.words[code] != 0:
            # actor: the MAH, also when DrugLots commissions for it (msg.sender is then DrugLots)
            log Alert(code=code, actor=mah, action=ACTION_COMMISSION, reason=self._reason_text(R_COMMISSIONED))
            refused = True
    if refused:
        return False

    batch: uint256 = self._open_batch(product, batch_no, production_day, expiry_day)
    lot_id: uint256 = self.gates[batch] >> LOT_SHIFT
    assert self.lot_flags[lot_id] == 0, "batch is on hold"
    word: uint256 = (
        W_ACTIVE
        | (convert(level, uint256) << LEVEL_SHIFT)
        | (batch << BATCH_SHIFT)
        | (convert(mah, uint256) << CUSTODIAN_SHIFT)
    )
    prefix: uint256 = convert(product, uint256) >> 192
    for code: bytes32 in codes:
        assert convert(code, uint256) >> 192 == prefix, "code of another product"
        assert self.words[code] == 0, "duplicate code in call"
        self.words[code] = word
        log Commissioned(code=code, by=mah)
    if len(codes) == 0:
        return True  # DrugLots opening a lot: the checks and the batch only
    self.batches[batch].commissioned += len(codes)
    log BatchCommissioned(
        product=product,
        lot=self.batches[batch].lot,
        batch_no=batch_no,
        production_day=production_day,
        expiry_day=expiry_day,
        level=level,
        count=len(codes),
        by=mah,
    )
    return True


# --- packing -------------------------------------------------------------------------------------------
@external
def aggregate(parent: bytes32, children: DynArray[bytes32, MAX_CODES]) -> bool:
    """
    @notice Pack top-level children into a top-level parent of a higher level; both held by the caller.
            The children then move with the parent.
    @return True, or False with Alerts (nothing recorded).
    """
    assert len(children) > 0, "no codes"
    self._require_trader(msg.sender)
    refused: bool = False
    reason: uint256 = R_NONE
    parent_word: uint256 = 0
    flags: uint256 = 0
    expired: bool = False
    reason, parent_word, flags, expired = self._check(parent, msg.sender, False, True)
    if reason != R_NONE:
        self._alert(parent, ACTION_AGGREGATE, reason)
        refused = True
    parent_level: uint256 = (parent_word >> LEVEL_SHIFT) & LEVEL_MASK
    for child: bytes32 in children:
        assert child != parent, "a code cannot contain itself"
        child_word: uint256 = 0
        reason, child_word, flags, expired = self._check(child, msg.sender, False, True)
        if reason == R_NONE and (child_word >> LEVEL_SHIFT) & LEVEL_MASK >= parent_level:
            reason = R_LEVEL
        if reason != R_NONE:
            self._alert(child, ACTION_AGGREGATE, reason)
            refused = True
    if refused:
        return False
    for child: bytes32 in children:
        word: uint256 = self.words[child]
        assert word & PACKED_FLAG == 0, "duplicate code in call"
        self.words[child] = word | PACKED_FLAG
        self.parent_of[child] = parent
        log Aggregated(code=child, parent=parent, by=msg.sender)
    return True


@external
def disaggregate(parent: bytes32, children: DynArray[bytes32, MAX_CODES]) -> bool:
    """
    @notice Unpack children from a parent the caller holds; each child becomes top-level, held by the caller.
    @return True, or False with Alerts (nothing recorded).
    """
    assert len(children) > 0, "no codes"
    self._require_trader(msg.sender)
    refused: bool = False
    reason: uint256 = R_NONE
    parent_word: uint256 = 0
    flags: uint256 = 0
    expired: bool = False
    reason, parent_word, flags, expired = self._check(parent, msg.sender, True, False)
    if reason != R_NONE:
        self._alert(parent, ACTION_DISAGGREGATE, reason)
        refused = True
    for child: bytes32 in children:
        if self.words[child] == 0:
            self._alert(child, ACTION_DISAGGREGATE, R_UNKNOWN)
            refused = True
        elif self.parent_of[child] != parent:
            self._alert(child, ACTION_DISAGGREGATE, R_NOT_IN_PARENT)
            refused = True
    if refused:
        return False
    for child: bytes32 in children:
        assert self.parent_of[child] == parent, "duplicate code in call"
        self._detach(child, parent)
    return True


@internal
def _detach(child: bytes32, parent: bytes32):
    # the child's own custodian field is stale while packed: it takes the caller, who holds the tree
    self.parent_of[child] = empty(bytes32)
    kept: uint256 = self.words[child] & (LEVEL_BATCH_MASK | BYTE_MASK)  # drops the packed flag
    self.words[child] = kept | (convert(msg.sender, uint256) << CUSTODIAN_SHIFT)
    log Disaggregated(code=child, parent=parent, by=msg.sender)


# --- shipping ------------------------------------------------------------------------------------------
@external
def ship(codes: DynArray[bytes32, MAX_CODES], receiver: address, bill_type: uint16) -> uint256:
    """
    @notice Ship top-level codes the caller holds to `receiver` (an account with a drug-trade role) under an
            outbound bill type (201 sale, 202 return, 203 transfer, 206 sampling, 207 direct, 211 recall).
            Custody stays with the caller until the receiver confirms with `receive`.
    @return the shipment id, or 0 with Alerts (nothing recorded).
    """
    assert len(codes) > 0, "no codes"
    assert (
        bill_type == BILL_SALE
        or bill_type == BILL_RETURN
        or bill_type == BILL_TRANSFER
        or bill_type == BILL_SAMPLING
        or bill_type == BILL_DIRECT
        or bill_type == BILL_RECALL
    ), "unknown outbound bill type"
    assert receiver != msg.sender, "cannot ship to oneself"
    self._require_trader(msg.sender)
    assert self._is_trader(receiver, DISTRIBUTOR, DISPENSER, MAH), "receiver is not a MAH, distributor or dispenser"
    lenient: bool = bill_type == BILL_RETURN or bill_type == BILL_RECALL
    refused: bool = False
    holding: uint256 = W_ACTIVE | (convert(msg.sender, uint256) << CUSTODIAN_SHIFT)
    clear_batch: uint256 = 0  # fast path: the last batch found clear
    for code: bytes32 in codes:
        word: uint256 = self.words[code]
        if word & HOLDING_MASK == holding:
            batch: uint256 = (word >> BATCH_SHIFT) & BATCH_MASK
            if batch == clear_batch:
                continue
            if self._is_clear(batch, lenient):
                clear_batch = batch
                continue
        reason: uint256 = R_NONE
        root_word: uint256 = 0
        flags: uint256 = 0
        expired: bool = False
        reason, root_word, flags, expired = self._check(code, msg.sender, lenient, True)
        if reason != R_NONE:
            self._alert(code, ACTION_SHIP, reason)
            refused = True
    if refused:
        return 0
    shipment: uint256 = self.shipment_count + 1
    assert shipment <= SHIPMENT_MASK, "too many shipments"
    self.shipment_count = shipment
    count: uint256 = len(codes)
    self.shipment_senders[shipment] = (
        convert(msg.sender, uint256)
        | (convert(bill_type, uint256) << BILL_SHIFT)
        | (convert(SHIPMENT_OPEN, uint256) << SHIPMENT_STATUS_SHIFT)
    )
    self.shipment_receivers[shipment] = (
        convert(receiver, uint256) | (count << REMAINING_SHIFT) | (count << COUNT_SHIFT)
    )
    log ShipmentCreated(shipment=shipment, sender=msg.sender, receiver=receiver, bill_type=bill_type, count=count)
    moving: uint256 = W_IN_TRANSIT | (shipment << SHIPMENT_SHIFT)
    for code: bytes32 in codes:
        word: uint256 = self.words[code]
        assert word & BYTE_MASK == W_ACTIVE, "duplicate code in call"
        self.words[code] = (word & ~(BYTE_MASK | (SHIPMENT_MASK << SHIPMENT_SHIFT))) | moving
        log Shipped(code=code, shipment=shipment, receiver=receiver)
    return shipment


@internal
def _settle(shipment: uint256, codes: DynArray[bytes32, MAX_CODES], action: uint8, holder: address) -> bool:
    # receive or cancel: every code must be in transit in this shipment; custody goes to `holder`
    refused: bool = False
    for code: bytes32 in codes:
        word: uint256 = self.words[code]
        if word == 0:
            self._alert(code, action, R_UNKNOWN)
            refused = True
        elif word & BYTE_MASK != W_IN_TRANSIT or (word >> SHIPMENT_SHIFT) & SHIPMENT_MASK != shipment:
            self._alert(code, action, R_NOT_IN_SHIPMENT)
            refused = True
    if refused:
        return False
    settled: uint256 = W_ACTIVE | (convert(holder, uint256) << CUSTODIAN_SHIFT)
    for code: bytes32 in codes:
        word: uint256 = self.words[code]
        assert word & BYTE_MASK == W_IN_TRANSIT, "duplicate code in call"
        self.words[code] = (word & LEVEL_BATCH_MASK) | settled
        if action == ACTION_RECEIVE:
            log Received(code=code, shipment=shipment, receiver=holder)
        else:
            log ShipmentCancelledCode(code=code, shipment=shipment, by=msg.sender)
    receivers: uint256 = self.shipment_receivers[shipment]
    remaining: uint256 = ((receivers >> REMAINING_SHIFT) & SHIPMENT_MASK) - len(codes)
    self.shipment_receivers[shipment] = (
        (receivers & ~(SHIPMENT_MASK << REMAINING_SHIFT)) | (remaining << REMAINING_SHIFT)
    )
    if remaining == 0:
        status: uint8 = SHIPMENT_RECEIVED if action == ACTION_RECEIVE else SHIPMENT_CANCELLED
        senders: uint256 = self.shipment_senders[shipment]
        self.shipment_senders[shipment] = (
            (senders & ~(BYTE_MASK << SHIPMENT_STATUS_SHIFT))
            | (convert(status, uint256) << SHIPMENT_STATUS_SHIFT)
        )
        log ShipmentClosed(shipment=shipment, status=status, by=msg.sender)
    return True


@view
@internal
def _open_shipment(shipment: uint256) -> (address, address):
    # sender and receiver of an open shipment
    senders: uint256 = self.shipment_senders[shipment]
    assert (senders >> SHIPMENT_STATUS_SHIFT) & BYTE_MASK == convert(SHIPMENT_OPEN, uint256), (
        "no open shipment with that id"
    )
    sender: address = convert(convert(senders & ADDRESS_MASK, uint160), address)
    receiver: address = convert(convert(self.shipment_receivers[shipment] & ADDRESS_MASK, uint160), address)
    return sender, receiver


@external
def receive(shipment: uint256, codes: DynArray[bytes32, MAX_CODES]) -> bool:
    """
    @notice The shipment's receiver confirms receipt of some or all of its codes: custody moves to it.
    @return True, or False with Alerts (nothing recorded).
    """
    assert len(codes) > 0, "no codes"
    sender: address = empty(address)
    receiver: address = empty(address)
    sender, receiver = self._open_shipment(shipment)
    assert receiver == msg.sender, "not the receiver of this shipment"
    return self._settle(shipment, codes, ACTION_RECEIVE, msg.sender)


@external
def cancel_shipment(shipment: uint256, codes: DynArray[bytes32, MAX_CODES]) -> bool:
    """
    @notice The sender withdraws, or the receiver refuses, codes not yet received: they return to the sender.
    @return True, or False with Alerts (nothing recorded).
    """
    assert len(codes) > 0, "no codes"
    sender: address = empty(address)
    receiver: address = empty(address)
    sender, receiver = self._open_shipment(shipment)
    assert msg.sender == sender or msg.sender == receiver, "not a party to this shipment"
    return self._settle(shipment, codes, ACTION_CANCEL, sender)


# --- terminal events -----------------------------------------------------------------------------------
@internal
def _finish(codes: DynArray[bytes32, MAX_CODES], action: uint8, status: uint256) -> bool:
    # dispense or destroy: codes held by the caller; a packed code is first taken out of its parent
    lenient: bool = action == ACTION_DESTROY
    refused: bool = False
    holding: uint256 = W_ACTIVE | (convert(msg.sender, uint256) << CUSTODIAN_SHIFT)
    clear_batch: uint256 = 0  # fast path: the last batch found clear
    for code: bytes32 in codes:
        word: uint256 = self.words[code]
        if word & HOLDING_MASK == holding:
            batch: uint256 = (word >> BATCH_SHIFT) & BATCH_MASK
            if batch == clear_batch:
                continue
            if self._is_clear(batch, lenient):
                clear_batch = batch
                continue
        reason: uint256 = R_NONE
        root_word: uint256 = 0
        flags: uint256 = 0
        expired: bool = False
        reason, root_word, flags, expired = self._check(code, msg.sender, lenient, False)
        if reason != R_NONE:
            self._alert(code, action, reason)
            refused = True
    if refused:
        return False
    final: uint256 = status | (convert(msg.sender, uint256) << CUSTODIAN_SHIFT)
    for code: bytes32 in codes:
        word: uint256 = self.words[code]
        if word & PACKED_FLAG != 0:
            self._detach(code, self.parent_of[code])
            word = self.words[code]
        assert word & BYTE_MASK == W_ACTIVE, "duplicate code in call"
        self.words[code] = (word & LEVEL_BATCH_MASK) | final
        if status == W_DISPENSED:
            log Dispensed(code=code, by=msg.sender)
        else:
            log Destroyed(code=code, by=msg.sender)
    return True


@external
def dispense(codes: DynArray[bytes32, MAX_CODES]) -> bool:
    """
    @notice A dispenser (pharmacy, hospital) dispenses codes it holds to patients: terminal.
    @return True, or False with Alerts (e.g. "already dispensed", "recalled", "expired"; nothing recorded).
    """
    assert len(codes) > 0, "no codes"
    assert self._has(msg.sender, DISPENSER), "not a dispenser"
    return self._finish(codes, ACTION_DISPENSE, W_DISPENSED)


@external
def destroy(codes: DynArray[bytes32, MAX_CODES]) -> bool:
    """
    @notice The custodian destroys codes (销毁, also recalled or expired ones): terminal.
    @return True, or False with Alerts (nothing recorded).
    """
    assert len(codes) > 0, "no codes"
    self._require_trader(msg.sender)
    return self._finish(codes, ACTION_DESTROY, W_DESTROYED)


# --- batch holds ---------------------------------------------------------------------------------------
@view
@internal
def _batch_of(product: bytes32, batch_no: String[20]) -> uint256:
    batch: uint256 = self.batch_index[keccak256(abi_encode(product, batch_no))]
    assert batch != 0, "unknown batch"
    return batch


@view
@internal
def _freeze_kind(product: bytes32) -> uint256:
    # the freeze the caller sets or lifts: a regulator's (LOT_FROZEN), or the product MAH's voluntary hold
    if self._has(msg.sender, DRUG_REGULATOR):
        return LOT_FROZEN
    assert self._is_products_mah(msg.sender, product), "not the product's MAH or the drug regulator"
    return LOT_MAH_HOLD


@internal
def _set_hold(product: bytes32, batch_no: String[20], batch: uint256, flag: uint256, on: bool, reason: String[128]):
    lot_id: uint256 = self.gates[batch] >> LOT_SHIFT
    flags: uint256 = self.lot_flags[lot_id]
    if on:
        assert flags & flag == 0, "hold already set"
    else:
        assert flags & flag != 0, "hold not set"
    flags = flags ^ flag
    self.lot_flags[lot_id] = flags
    log BatchHoldSet(
        lot=self.batches[batch].lot,
        product=product,
        batch_no=batch_no,
        recalled=flags & LOT_RECALLED != 0,
        regulator_freeze=flags & LOT_FROZEN != 0,
        mah_hold=flags & LOT_MAH_HOLD != 0,
        reason=reason,
        by=msg.sender,
    )


@external
def recall(product: bytes32, batch_no: String[20], reason: String[128]):
    """
    @notice Recall a batch (every packaging level of the drug): only returns (202/211) and destruction remain.
            By the product's MAH or the drug regulator; a recall is not lifted.
    """
    batch: uint256 = self._batch_of(product, batch_no)
    self._require_batch_authority(msg.sender, product)
    self._set_hold(product, batch_no, batch, LOT_RECALLED, True, reason)


@external
def freeze(product: bytes32, batch_no: String[20], reason: String[128]):
    """
    @notice Freeze a batch: nothing moves but receipts until it is lifted. A drug regulator sets a regulatory
            freeze, which only a drug regulator lifts; the product's MAH sets a voluntary hold on its own batch.
            An account holding both roles acts as the regulator.
    """
    batch: uint256 = self._batch_of(product, batch_no)
    self._set_hold(product, batch_no, batch, self._freeze_kind(product), True, reason)


@external
def unfreeze(product: bytes32, batch_no: String[20], reason: String[128]):
    """
    @notice Lift a freeze: a drug regulator lifts the regulatory freeze; the product's MAH lifts its own
            voluntary hold, never a regulator's freeze. The other kind, when set, stays.
    """
    batch: uint256 = self._batch_of(product, batch_no)
    kind: uint256 = self._freeze_kind(product)
    stopped: uint256 = self.lot_flags[self.gates[batch] >> LOT_SHIFT] & LOT_STOPPED
    assert kind == LOT_FROZEN or stopped != LOT_FROZEN, "only a regulator lifts its freeze"
    self._set_hold(product, batch_no, batch, kind, False, reason)


# --- views ---------------------------------------------------------------------------------------------
@view
@external
def registrant_of(product_key: String[14]) -> String[18]:
    """
    @notice The MAH organisation that may register a product key (its longest bound prefix's), or "".
    """
    return self._registrant_of(product_key)


@view
@external
def get_code(code: bytes32) -> CodeInfo:
    """
    @notice A code's effective state (status, custodian and shipment from its root ancestor; holds and expiry
            from its own batch and its ancestors'). `known` is False for a code never commissioned.
    """
    word: uint256 = self.words[code]
    if word == 0:
        return empty(CodeInfo)
    reason: uint256 = R_NONE
    root_word: uint256 = 0
    flags: uint256 = 0
    expired: bool = False
    reason, root_word, flags, expired = self._check(code, empty(address), False, False)
    batch: uint256 = (word >> BATCH_SHIFT) & BATCH_MASK
    return CodeInfo(
        known=True,
        product=self.batches[batch].product,
        batch_no=self.batches[batch].batch_no,
        production_day=self.batches[batch].production_day,
        expiry_day=self.batches[batch].expiry_day,
        level=convert((word >> LEVEL_SHIFT) & LEVEL_MASK, uint8),
        status=convert(root_word & BYTE_MASK, uint8),
        custodian=convert(convert(root_word >> CUSTODIAN_SHIFT, uint160), address),
        shipment=(root_word >> SHIPMENT_SHIFT) & SHIPMENT_MASK,
        parent=self.parent_of[code],
        recalled=flags & LOT_RECALLED != 0,
        frozen=flags & LOT_STOPPED != 0,
        expired=expired,
    )


@view
@external
def get_batch(product: bytes32, batch_no: String[20]) -> BatchInfo:
    """
    @notice A batch's dates, commissioned count and holds; `known` is False when never commissioned.
    """
    batch: uint256 = self.batch_index[keccak256(abi_encode(product, batch_no))]
    if batch == 0:
        return empty(BatchInfo)
    flags: uint256 = 0
    expired: bool = False
    flags, expired = self._holds(batch << BATCH_SHIFT)
    return BatchInfo(
        known=True,
        product=product,
        lot=self.batches[batch].lot,
        production_day=self.batches[batch].production_day,
        expiry_day=self.batches[batch].expiry_day,
        commissioned=self.batches[batch].commissioned,
        recalled=flags & LOT_RECALLED != 0,
        frozen=flags & LOT_STOPPED != 0,
        expired=expired,
        regulator_freeze=flags & LOT_FROZEN != 0,
        mah_hold=flags & LOT_MAH_HOLD != 0,
    )


@view
@external
def get_shipment(shipment: uint256) -> Shipment:
    """
    @notice A shipment's parties, bill type, counts and status (1 open, 2 received, 3 cancelled; 0 unknown).
    """
    senders: uint256 = self.shipment_senders[shipment]
    receivers: uint256 = self.shipment_receivers[shipment]
    return Shipment(
        sender=convert(convert(senders & ADDRESS_MASK, uint160), address),
        receiver=convert(convert(receivers & ADDRESS_MASK, uint160), address),
        bill_type=convert((senders >> BILL_SHIFT) & 65535, uint16),
        count=(receivers >> COUNT_SHIFT) & SHIPMENT_MASK,
        remaining=(receivers >> REMAINING_SHIFT) & SHIPMENT_MASK,
        status=convert((senders >> SHIPMENT_STATUS_SHIFT) & BYTE_MASK, uint8),
    )
