# pragma version 0.4.3
# pragma evm-version prague
"""
@title Xinlian DrugTrace: drug products, serialised trace codes, packing, custody and batch holds (药品追溯)
@notice One record per trace code: who holds it, its status, its batch; packing links a child to its parent.
        Every change emits an event; a refused movement emits an Alert (see "Refusals" below).

Identifiers (computed off chain by the SDK, never in clear on the ledger)
-----------------------------------------------------------------------
* code id    = SM3(b"xinlian/drug-code/1" || 0x00 || canonical code), canonical code = the 20 digits of an
               NMPA code, or "(01)<GTIN-14>(21)<serial>" for a GS1 code. Hashing keeps valid codes from being
               harvested off the public ledger and printed on counterfeits.
* product id = SM3(b"xinlian/drug-product/1" || 0x00 || product key), product key = the 7-digit 药品标识码 or
               the GTIN-14 (one per packaging level).
* A product may `pack` another (a case product packs the unit product): all levels of one drug share a lot
  per batch number, so a recall or freeze of batch B stops units, bundles and cases of B alike.
* Dates are days since 1970-01-01. A batch expires at 00:00 China Standard Time (UTC+8) after its expiry day.

Per-code storage (one slot written per code at commissioning)
-------------------------------------------------------------
`words[code]` packs: status (bits 0-7) | level (8-15) | batch index (16-47) | shipment id (48-95) |
custodian (96-255). Zero means "never commissioned". `parent_of[code]` is written only when packed.
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
"""

interface Governance:
    def has_role(account: address, role: bytes32, scope: bytes32) -> bool: view
    def organisation_of(account: address) -> String[18]: view

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

# --- lot flags -----------------------------------------------------------------------------------------
LOT_KNOWN: constant(uint8) = 1
LOT_RECALLED: constant(uint8) = 2
LOT_FROZEN: constant(uint8) = 4

DAY_SECONDS: constant(uint256) = 86400
CST_OFFSET_SECONDS: constant(uint256) = 28800  # UTC+8

# word layout
LEVEL_SHIFT: constant(uint256) = 8
BATCH_SHIFT: constant(uint256) = 16
SHIPMENT_SHIFT: constant(uint256) = 48
CUSTODIAN_SHIFT: constant(uint256) = 96
BYTE_MASK: constant(uint256) = 255
BATCH_MASK: constant(uint256) = 4294967295  # 32 bits
SHIPMENT_MASK: constant(uint256) = 281474976710655  # 48 bits

# --- types ---------------------------------------------------------------------------------------------
struct Product:
    mah_org: String[18]  # USCC of the marketing authorisation holder
    name: String[128]
    approval_number: String[32]  # 批准文号
    category: uint8
    drug: bytes32  # the product id whose lots this product shares (itself for a base product)
    registered: bool

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
    status: uint8
    created_block: uint256

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
    frozen: bool
    expired: bool

struct Check:
    reason: String[32]  # "" when the code may move
    root: bytes32
    root_word: uint256
    packed: bool
    flags: uint8  # lot flags of the code and its ancestors
    expired: bool  # the code's or an ancestor's batch is past its expiry

# --- events --------------------------------------------------------------------------------------------
event ProductRegistered:
    product: indexed(bytes32)
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
    frozen: bool
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
batches: public(HashMap[uint256, Batch])  # index 1, 2, ...
batch_count: public(uint256)
batch_index: HashMap[bytes32, uint256]  # keccak256(abi_encode(product, batch_no)) -> index
lot_flags: public(HashMap[bytes32, uint8])

words: HashMap[bytes32, uint256]
parent_of: public(HashMap[bytes32, bytes32])

shipments: public(HashMap[uint256, Shipment])
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


# --- word packing --------------------------------------------------------------------------------------
@pure
@internal
def _pack(status: uint8, level: uint8, batch: uint256, shipment: uint256, custodian: address) -> uint256:
    return (
        convert(status, uint256)
        | (convert(level, uint256) << LEVEL_SHIFT)
        | (batch << BATCH_SHIFT)
        | (shipment << SHIPMENT_SHIFT)
        | (convert(custodian, uint256) << CUSTODIAN_SHIFT)
    )


@pure
@internal
def _status(word: uint256) -> uint8:
    return convert(word & BYTE_MASK, uint8)


@pure
@internal
def _level(word: uint256) -> uint8:
    return convert((word >> LEVEL_SHIFT) & BYTE_MASK, uint8)


@pure
@internal
def _batch(word: uint256) -> uint256:
    return (word >> BATCH_SHIFT) & BATCH_MASK


@pure
@internal
def _shipment(word: uint256) -> uint256:
    return (word >> SHIPMENT_SHIFT) & SHIPMENT_MASK


@pure
@internal
def _custodian(word: uint256) -> address:
    return convert(convert(word >> CUSTODIAN_SHIFT, uint160), address)


# --- roles ---------------------------------------------------------------------------------------------
@view
@internal
def _has(account: address, role: bytes32) -> bool:
    return staticcall Governance(self.governance).has_role(account, role, empty(bytes32))


@view
@internal
def _is_trader(account: address) -> bool:
    # a drug-trade account: holds MAH, DISTRIBUTOR or DISPENSER
    return self._has(account, DISTRIBUTOR) or self._has(account, DISPENSER) or self._has(account, MAH)


@view
@internal
def _require_trader(account: address):
    assert self._is_trader(account), "not a MAH, distributor or dispenser"


@view
@internal
def _require_batch_authority(account: address, product: bytes32):
    # the product's MAH (an account of its organisation holding MAH) or the drug regulator
    if self._has(account, DRUG_REGULATOR):
        return
    assert self._has(account, MAH), "not the product's MAH or the drug regulator"
    org: String[18] = staticcall Governance(self.governance).organisation_of(account)
    assert org == self.products[product].mah_org, "not the product's MAH or the drug regulator"


# --- batch state ---------------------------------------------------------------------------------------
@view
@internal
def _is_expired(batch: uint256) -> bool:
    ends: uint256 = (convert(self.batches[batch].expiry_day, uint256) + 1) * DAY_SECONDS - CST_OFFSET_SECONDS
    return block.timestamp >= ends


@view
@internal
def _batch_key(product: bytes32, batch_no: String[20]) -> bytes32:
    return keccak256(abi_encode(product, batch_no))


@view
@internal
def _find_batch(product: bytes32, batch_no: String[20]) -> uint256:
    index: uint256 = self.batch_index[self._batch_key(product, batch_no)]
    assert index != 0, "unknown batch"
    return index


# --- the code check: walk up the parent chain once ----------------------------------------------------
@view
@internal
def _check(code: bytes32, sender: address, action: uint8, bill_type: uint16, top_level: bool) -> Check:
    """
    @dev Why `code` may not move for `action` by `sender` ("" = it may), with its root and the root's word.
    """
    word: uint256 = self.words[code]
    if word == 0:
        return Check(reason="unknown code", root=code, root_word=0, packed=False, flags=0, expired=False)
    root: bytes32 = code
    root_word: uint256 = word
    batch: uint256 = self._batch(word)
    flags: uint8 = self.lot_flags[self.batches[batch].lot]
    expired: bool = self._is_expired(batch)
    packed: bool = False
    for i: uint256 in range(MAX_DEPTH):
        parent: bytes32 = self.parent_of[root]
        if parent == empty(bytes32):
            break
        packed = True
        root = parent
        root_word = self.words[parent]
        parent_batch: uint256 = self._batch(root_word)
        if parent_batch != batch:
            flags = flags | self.lot_flags[self.batches[parent_batch].lot]
            expired = expired or self._is_expired(parent_batch)
    status: uint8 = self._status(root_word)
    reason: String[32] = ""
    returning: bool = action == ACTION_SHIP and (bill_type == BILL_RETURN or bill_type == BILL_RECALL)
    lenient: bool = returning or action == ACTION_DESTROY or action == ACTION_DISAGGREGATE
    if status == DISPENSED:
        reason = "already dispensed"
    elif status == DESTROYED:
        reason = "destroyed"
    elif status == IN_TRANSIT:
        reason = "in transit"
    elif self._custodian(root_word) != sender:
        reason = "not the custodian"
    elif packed and top_level:
        reason = "packed in a parent"
    elif flags & LOT_FROZEN != 0:
        reason = "frozen"
    elif flags & LOT_RECALLED != 0 and not lenient:
        reason = "recalled"
    elif expired and not lenient:
        reason = "expired"
    return Check(reason=reason, root=root, root_word=root_word, packed=packed, flags=flags, expired=expired)


@internal
def _alert(code: bytes32, action: uint8, reason: String[32]):
    log Alert(code=code, actor=msg.sender, action=action, reason=reason)


@view
@internal
def _require_codes(codes: DynArray[bytes32, MAX_CODES]):
    assert len(codes) > 0, "no codes"


# --- products ------------------------------------------------------------------------------------------
@external
def register_product(product: bytes32, name: String[128], approval_number: String[32], category: uint8, packs: bytes32):
    """
    @notice Register a product (one per 药品标识码 / GTIN) for the caller's organisation as MAH.
    @param packs the product this one packs (e.g. the unit product of a case), or empty: they share lots.
    """
    assert self._has(msg.sender, MAH), "not a MAH"
    assert product != empty(bytes32), "empty product id"
    assert not self.products[product].registered, "product already registered"
    assert len(name) > 0, "empty product name"
    assert len(approval_number) > 0, "empty approval number"
    assert category <= CATEGORY_BLOOD_PRODUCT, "unknown category"
    org: String[18] = staticcall Governance(self.governance).organisation_of(msg.sender)
    drug: bytes32 = product
    if packs != empty(bytes32):
        assert self.products[packs].registered, "packed product unknown"
        assert self.products[packs].mah_org == org, "packed product belongs to another MAH"
        drug = self.products[packs].drug
    self.products[product] = Product(
        mah_org=org, name=name, approval_number=approval_number, category=category, drug=drug, registered=True
    )
    log ProductRegistered(
        product=product,
        mah_org=org,
        name=name,
        approval_number=approval_number,
        category=category,
        packs=packs,
        by=msg.sender,
    )


# --- commissioning -------------------------------------------------------------------------------------
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
    self._require_codes(codes)
    assert self.products[product].registered, "unknown product"
    assert level >= UNIT and level <= CASE, "unknown packaging level"
    assert len(batch_no) > 0, "empty batch number"
    assert expiry_day >= production_day, "expiry before production"
    assert self._has(msg.sender, MAH), "not a MAH"
    org: String[18] = staticcall Governance(self.governance).organisation_of(msg.sender)
    assert org == self.products[product].mah_org, "not the product's MAH"

    refused: bool = False
    for code: bytes32 in codes:
        if self.words[code] != 0:
            self._alert(code, ACTION_COMMISSION, "already commissioned")
            refused = True
    if refused:
        return False

    key: bytes32 = self._batch_key(product, batch_no)
    batch: uint256 = self.batch_index[key]
    if batch == 0:
        batch = self.batch_count + 1
        assert batch <= BATCH_MASK, "too many batches"
        self.batch_count = batch
        self.batch_index[key] = batch
        lot: bytes32 = keccak256(abi_encode(self.products[product].drug, batch_no))
        self.lot_flags[lot] = self.lot_flags[lot] | LOT_KNOWN
        self.batches[batch] = Batch(
            product=product,
            lot=lot,
            batch_no=batch_no,
            production_day=production_day,
            expiry_day=expiry_day,
            commissioned=0,
        )
    else:
        assert self.batches[batch].production_day == production_day, "batch production day differs"
        assert self.batches[batch].expiry_day == expiry_day, "batch expiry day differs"
    assert self.lot_flags[self.batches[batch].lot] & (LOT_RECALLED | LOT_FROZEN) == 0, "batch is on hold"

    word: uint256 = self._pack(ACTIVE, level, batch, 0, msg.sender)
    for code: bytes32 in codes:
        assert code != empty(bytes32), "empty code id"
        assert self.words[code] == 0, "duplicate code in call"
        self.words[code] = word
        log Commissioned(code=code, by=msg.sender)
    self.batches[batch].commissioned += len(codes)
    log BatchCommissioned(
        product=product,
        lot=self.batches[batch].lot,
        batch_no=batch_no,
        production_day=production_day,
        expiry_day=expiry_day,
        level=level,
        count=len(codes),
        by=msg.sender,
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
    self._require_codes(children)
    self._require_trader(msg.sender)
    refused: bool = False
    parent_check: Check = self._check(parent, msg.sender, ACTION_AGGREGATE, 0, True)
    if parent_check.reason != "":
        self._alert(parent, ACTION_AGGREGATE, parent_check.reason)
        refused = True
    parent_level: uint8 = self._level(parent_check.root_word)
    for child: bytes32 in children:
        assert child != parent, "a code cannot contain itself"
        check: Check = self._check(child, msg.sender, ACTION_AGGREGATE, 0, True)
        reason: String[32] = check.reason
        if reason == "" and self._level(check.root_word) >= parent_level:
            reason = "level not below parent"
        if reason != "":
            self._alert(child, ACTION_AGGREGATE, reason)
            refused = True
    if refused:
        return False
    for child: bytes32 in children:
        assert self.parent_of[child] == empty(bytes32), "duplicate code in call"
        self.parent_of[child] = parent
        log Aggregated(code=child, parent=parent, by=msg.sender)
    return True


@external
def disaggregate(parent: bytes32, children: DynArray[bytes32, MAX_CODES]) -> bool:
    """
    @notice Unpack children from a parent the caller holds; each child becomes top-level, held by the caller.
    @return True, or False with Alerts (nothing recorded).
    """
    self._require_codes(children)
    self._require_trader(msg.sender)
    refused: bool = False
    parent_check: Check = self._check(parent, msg.sender, ACTION_DISAGGREGATE, 0, False)
    if parent_check.reason != "":
        self._alert(parent, ACTION_DISAGGREGATE, parent_check.reason)
        refused = True
    for child: bytes32 in children:
        if self.words[child] == 0:
            self._alert(child, ACTION_DISAGGREGATE, "unknown code")
            refused = True
        elif self.parent_of[child] != parent:
            self._alert(child, ACTION_DISAGGREGATE, "not packed in this parent")
            refused = True
    if refused:
        return False
    for child: bytes32 in children:
        assert self.parent_of[child] == parent, "duplicate code in call"
        self._detach(child, parent, msg.sender)
    return True


@internal
def _detach(child: bytes32, parent: bytes32, holder: address):
    # the child's own custodian field is stale while packed: it takes the holder of the tree it leaves
    word: uint256 = self.words[child]
    self.parent_of[child] = empty(bytes32)
    self.words[child] = self._pack(self._status(word), self._level(word), self._batch(word), 0, holder)
    log Disaggregated(code=child, parent=parent, by=holder)


# --- shipping ------------------------------------------------------------------------------------------
@external
def ship(codes: DynArray[bytes32, MAX_CODES], receiver: address, bill_type: uint16) -> uint256:
    """
    @notice Ship top-level codes the caller holds to `receiver` (an account with a drug-trade role) under an
            outbound bill type (201 sale, 202 return, 203 transfer, 206 sampling, 207 direct, 211 recall).
            Custody stays with the caller until the receiver confirms with `receive`.
    @return the shipment id, or 0 with Alerts (nothing recorded).
    """
    self._require_codes(codes)
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
    assert self._is_trader(receiver), "receiver is not a MAH, distributor or dispenser"
    refused: bool = False
    for code: bytes32 in codes:
        check: Check = self._check(code, msg.sender, ACTION_SHIP, bill_type, True)
        if check.reason != "":
            self._alert(code, ACTION_SHIP, check.reason)
            refused = True
    if refused:
        return 0
    shipment: uint256 = self.shipment_count + 1
    assert shipment <= SHIPMENT_MASK, "too many shipments"
    self.shipment_count = shipment
    self.shipments[shipment] = Shipment(
        sender=msg.sender,
        receiver=receiver,
        bill_type=bill_type,
        count=len(codes),
        remaining=len(codes),
        status=SHIPMENT_OPEN,
        created_block=block.number,
    )
    log ShipmentCreated(
        shipment=shipment, sender=msg.sender, receiver=receiver, bill_type=bill_type, count=len(codes)
    )
    for code: bytes32 in codes:
        word: uint256 = self.words[code]
        assert self._status(word) == ACTIVE, "duplicate code in call"
        self.words[code] = self._pack(IN_TRANSIT, self._level(word), self._batch(word), shipment, msg.sender)
        log Shipped(code=code, shipment=shipment, receiver=receiver)
    return shipment


@internal
def _settle(shipment: uint256, codes: DynArray[bytes32, MAX_CODES], action: uint8, holder: address) -> bool:
    # receive or cancel: every code must be in transit in this shipment; custody goes to `holder`
    refused: bool = False
    for code: bytes32 in codes:
        word: uint256 = self.words[code]
        if word == 0:
            self._alert(code, action, "unknown code")
            refused = True
        elif self._status(word) != IN_TRANSIT or self._shipment(word) != shipment:
            self._alert(code, action, "not in this shipment")
            refused = True
    if refused:
        return False
    receiver: address = self.shipments[shipment].receiver
    for code: bytes32 in codes:
        word: uint256 = self.words[code]
        assert self._status(word) == IN_TRANSIT, "duplicate code in call"
        self.words[code] = self._pack(ACTIVE, self._level(word), self._batch(word), 0, holder)
        if action == ACTION_RECEIVE:
            log Received(code=code, shipment=shipment, receiver=holder)
        else:
            log ShipmentCancelledCode(code=code, shipment=shipment, by=msg.sender)
    remaining: uint256 = self.shipments[shipment].remaining - len(codes)
    self.shipments[shipment].remaining = remaining
    if remaining == 0:
        status: uint8 = SHIPMENT_RECEIVED if action == ACTION_RECEIVE else SHIPMENT_CANCELLED
        self.shipments[shipment].status = status
        log ShipmentClosed(shipment=shipment, status=status, by=msg.sender)
    return True


@external
def receive(shipment: uint256, codes: DynArray[bytes32, MAX_CODES]) -> bool:
    """
    @notice The shipment's receiver confirms receipt of some or all of its codes: custody moves to it.
    @return True, or False with Alerts (nothing recorded).
    """
    self._require_codes(codes)
    assert self.shipments[shipment].status == SHIPMENT_OPEN, "no open shipment with that id"
    assert self.shipments[shipment].receiver == msg.sender, "not the receiver of this shipment"
    return self._settle(shipment, codes, ACTION_RECEIVE, msg.sender)


@external
def cancel_shipment(shipment: uint256, codes: DynArray[bytes32, MAX_CODES]) -> bool:
    """
    @notice The sender withdraws, or the receiver refuses, codes not yet received: they return to the sender.
    @return True, or False with Alerts (nothing recorded).
    """
    self._require_codes(codes)
    assert self.shipments[shipment].status == SHIPMENT_OPEN, "no open shipment with that id"
    sender: address = self.shipments[shipment].sender
    assert msg.sender == sender or msg.sender == self.shipments[shipment].receiver, "not a party to this shipment"
    return self._settle(shipment, codes, ACTION_CANCEL, sender)


# --- terminal events -----------------------------------------------------------------------------------
@internal
def _finish(codes: DynArray[bytes32, MAX_CODES], action: uint8, status: uint8) -> bool:
    # dispense or destroy: codes held by the caller; a packed code is first taken out of its parent
    refused: bool = False
    for code: bytes32 in codes:
        check: Check = self._check(code, msg.sender, action, 0, False)
        if check.reason != "":
            self._alert(code, action, check.reason)
            refused = True
    if refused:
        return False
    for code: bytes32 in codes:
        parent: bytes32 = self.parent_of[code]
        if parent != empty(bytes32):
            self._detach(code, parent, msg.sender)
        word: uint256 = self.words[code]
        assert self._status(word) == ACTIVE, "duplicate code in call"
        self.words[code] = self._pack(status, self._level(word), self._batch(word), 0, msg.sender)
        if status == DISPENSED:
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
    self._require_codes(codes)
    assert self._has(msg.sender, DISPENSER), "not a dispenser"
    return self._finish(codes, ACTION_DISPENSE, DISPENSED)


@external
def destroy(codes: DynArray[bytes32, MAX_CODES]) -> bool:
    """
    @notice The custodian destroys codes (销毁, also recalled or expired ones): terminal.
    @return True, or False with Alerts (nothing recorded).
    """
    self._require_codes(codes)
    self._require_trader(msg.sender)
    return self._finish(codes, ACTION_DESTROY, DESTROYED)


# --- batch holds ---------------------------------------------------------------------------------------
@internal
def _set_hold(product: bytes32, batch_no: String[20], flag: uint8, on: bool, reason: String[128]):
    batch: uint256 = self._find_batch(product, batch_no)
    self._require_batch_authority(msg.sender, product)
    lot: bytes32 = self.batches[batch].lot
    flags: uint8 = self.lot_flags[lot]
    if on:
        assert flags & flag == 0, "hold already set"
        flags = flags | flag
    else:
        assert flags & flag != 0, "hold not set"
        flags = flags ^ flag
    self.lot_flags[lot] = flags
    log BatchHoldSet(
        lot=lot,
        product=product,
        batch_no=batch_no,
        recalled=flags & LOT_RECALLED != 0,
        frozen=flags & LOT_FROZEN != 0,
        reason=reason,
        by=msg.sender,
    )


@external
def recall(product: bytes32, batch_no: String[20], reason: String[128]):
    """
    @notice Recall a batch (every packaging level of the drug): only returns (202/211) and destruction remain.
            By the product's MAH or the drug regulator.
    """
    self._set_hold(product, batch_no, LOT_RECALLED, True, reason)


@external
def freeze(product: bytes32, batch_no: String[20], reason: String[128]):
    """
    @notice Freeze a batch: nothing moves but receipts until `unfreeze`. By the product's MAH or the regulator.
    """
    self._set_hold(product, batch_no, LOT_FROZEN, True, reason)


@external
def unfreeze(product: bytes32, batch_no: String[20], reason: String[128]):
    """
    @notice Lift a freeze. By the product's MAH or the drug regulator.
    """
    self._set_hold(product, batch_no, LOT_FROZEN, False, reason)


# --- views ---------------------------------------------------------------------------------------------
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
    check: Check = self._check(code, empty(address), ACTION_DISPENSE, 0, False)
    batch: uint256 = self._batch(word)
    return CodeInfo(
        known=True,
        product=self.batches[batch].product,
        batch_no=self.batches[batch].batch_no,
        production_day=self.batches[batch].production_day,
        expiry_day=self.batches[batch].expiry_day,
        level=self._level(word),
        status=self._status(check.root_word),
        custodian=self._custodian(check.root_word),
        shipment=self._shipment(check.root_word),
        parent=self.parent_of[code],
        recalled=check.flags & LOT_RECALLED != 0,
        frozen=check.flags & LOT_FROZEN != 0,
        expired=check.expired,
    )


@view
@external
def get_batch(product: bytes32, batch_no: String[20]) -> BatchInfo:
    """
    @notice A batch's dates, commissioned count and holds; `known` is False when never commissioned.
    """
    batch: uint256 = self.batch_index[self._batch_key(product, batch_no)]
    if batch == 0:
        return empty(BatchInfo)
    lot: bytes32 = self.batches[batch].lot
    flags: uint8 = self.lot_flags[lot]
    return BatchInfo(
        known=True,
        product=product,
        lot=lot,
        production_day=self.batches[batch].production_day,
        expiry_day=self.batches[batch].expiry_day,
        commissioned=self.batches[batch].commissioned,
        recalled=flags & LOT_RECALLED != 0,
        frozen=flags & LOT_FROZEN != 0,
        expired=self._is_expired(batch),
    )
