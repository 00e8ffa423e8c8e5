# pragma version 0.4.3
# pragma evm-version prague
"""
@title Xinlian BankConfirmation: digital bank confirmation letters (银行函证, 财会〔2022〕39号)
@notice An audit firm sends a confirmation letter about an audited company to a bank; the company authorises
        it; the bank accepts (or rejects it as non-conforming) and replies within 10 working days of its
        receipt; the audit firm records its receipt of the reply. The ledger is the delivery channel: request
        and reply documents travel as SM4-GCM ciphertext (the key SM2-wrapped per recipient, see
        docs/confirmations.md) in this contract's event data, next to their SM3 hashes and timestamps.

Lifecycle (status ids)
----------------------
 1 AWAITING_CLIENT_AUTH  `create` by an account holding AUDITOR; the letter names the audited company (USCC)
                         and the bank (USCC of an organisation whose accounts hold BANK)
 2 SENT                  `authorise` by an account of the audited company (within 180 days of creation)
 3 ACCEPTED              `accept` by a BANK account of the named bank: records its receipt time; the due day
                         is the 10th working day after the receipt day (Calendar, China time)
 4 REJECTED_NONCONFORMING `reject` (from SENT) by the bank, with a reason (不予受理)
 5 REPLIED               `reply` by the bank: reply hash, items covered, items with exceptions; a digital
                         reply not covering every requested item of 1-13 needs a paper supplement
 6 RECEIVED              `confirm_receipt` by an AUDITOR account of the sending audit firm
 7 RECALLED              `recall` by the audit firm while AWAITING_CLIENT_AUTH or SENT (before the bank starts)
Derived, never stored (`status_at(letter, t)`):
 8 OVERDUE               ACCEPTED and t >= end of the due day (China time) without a reply
 9 EXPIRED               AWAITING_CLIENT_AUTH and t >= created_at + 180 days

Items are a bitmask: bit i-1 stands for item i of the 14 standard items (1 存款 ... 13 理财产品, 14 其他).
Days are China-time day numbers since 1970-01-01 (see Calendar.vy).

Parties (data minimisation)
---------------------------
A letter never stores or logs an organisation's USCC, nor its plain hash: either would be the same word in
every letter of that organisation, and whoever holds the logs or the storage could list who audits whom and
who banks where. Each party is named by a tag bound to this letter (fixed width, 125 bytes hashed):
    tag = keccak256("xinlian/letter-party/1" || chain_id(32) || this contract(20) || letter_id(32)
                    || party(1: 1 auditor, 2 bank, 4 client) || USCC(18 ASCII bytes, as Governance holds it))
(sdk/domains/confirmations/parties.py builds the same bytes; `party_tag` shows them.) The tags differ from
letter to letter; an organisation that knows a letter id computes its own tags to find its part; an acting
account is checked by recomputing the tag of `organisation_of(msg.sender)`. The clear USCCs of the bank and
the audited company appear in clear once on chain, in the calldata of `create`, where they are checked
(registered, active, the company neither the bank nor the audit firm): the sender, the validators and whoever
may read that transaction see them (the sealed request holds them encrypted). A tag does not hide
a letter's parties from someone holding its log who tries every registered USCC; it removes the index.

Envelope keys (directory)
-------------------------
A bank (an account holding BANK) and a finance regulator (AUDIT_ACCREDITOR) publish, for their organisation,
the SM2 public key that letters' documents are sealed to for them: `set_envelope_key` (each call replaces the
key and bumps its version); an audit firm reads `envelope_key_of(uscc)` before sealing a request. The
directory names organisations, not letters, so it links no letter to anyone.
"""

struct OrganisationRecord:
    name: String[128]
    active: bool
    registered: bool

interface Governance:
    def has_role(account: address, role: bytes32, scope: bytes32) -> bool: view
    def is_active_account(account: address) -> bool: view
    def organisation_of(account: address) -> String[18]: view
    def organisations(uscc: String[18]) -> OrganisationRecord: view
    def contracts(name: bytes32) -> address: view

interface Calendar:
    def add_working_days(start_day: uint256, n: uint256) -> uint256: view

# --- constants -----------------------------------------------------------------------------------------
AUDITOR: public(constant(bytes32)) = keccak256("AUDITOR")
BANK: public(constant(bytes32)) = keccak256("BANK")
AUDIT_ACCREDITOR: public(constant(bytes32)) = keccak256("AUDIT_ACCREDITOR")
# Governance registry key of the calendar: "Calendar" right-padded with zeros
CALENDAR_NAME: constant(bytes32) = 0x43616c656e646172000000000000000000000000000000000000000000000000

AWAITING_CLIENT_AUTH: public(constant(uint8)) = 1
SENT: public(constant(uint8)) = 2
ACCEPTED: public(constant(uint8)) = 3
REJECTED_NONCONFORMING: public(constant(uint8)) = 4
REPLIED: public(constant(uint8)) = 5
RECEIVED: public(constant(uint8)) = 6
RECALLED: public(constant(uint8)) = 7
OVERDUE: public(constant(uint8)) = 8
EXPIRED: public(constant(uint8)) = 9

ALL_ITEMS: public(constant(uint256)) = 16383  # items 1-14
DIGITAL_ITEMS: public(constant(uint256)) = 8191  # items 1-13: a digital reply must cover these
REPLY_WORKING_DAYS: public(constant(uint256)) = 10
AUTHORISATION_WINDOW_SECONDS: public(constant(uint256)) = 180 * 86400
SECONDS_PER_DAY: constant(uint256) = 86400
UTC_OFFSET_SECONDS: constant(uint256) = 28800
MAX_DOCUMENT_BYTES: public(constant(uint256)) = 65536  # sealed document (envelope) per request / reply
MAX_REASON: constant(uint256) = 256
PARTY_AUDITOR: public(constant(uint8)) = 1
PARTY_BANK: public(constant(uint8)) = 2
PARTY_CLIENT: public(constant(uint8)) = 4  # the envelope's recipient numbers (3 is the regulator)
PARTY_TAG_DOMAIN: constant(Bytes[22]) = b"xinlian/letter-party/1"
USCC_LENGTH: constant(uint256) = 18
ENVELOPE_KEY_BYTES: constant(uint256) = 64  # an SM2 public key, x || y

# --- types ---------------------------------------------------------------------------------------------
struct Letter:
    auditor: address  # the account that created it
    auditor_tag: bytes32  # party tags (see Parties): the audit firm, the audited company, the bank
    client_tag: bytes32
    bank_tag: bytes32
    base_date: uint256  # 函证基准日, China-time day number
    items: uint256  # bitmask of the 14 items
    letter_format: uint8  # 1 格式一 (auditor fills, bank confirms), 2 格式二 (bank fills)
    request_hash: bytes32  # SM3 of the sealed request document
    status: uint8  # stored status (1-7)
    created_at: uint256  # unix seconds
    authorised_by: address
    authorised_at: uint256
    bank_account: address  # the bank account that accepted or rejected
    accepted_at: uint256  # the bank's receipt time
    reply_hash: bytes32  # SM3 of the sealed reply document
    replied_at: uint256
    covered_items: uint256
    exception_items: uint256
    paper_supplement: bool
    replied_late: bool
    received_at: uint256
    closed_at: uint256  # rejection or recall time

struct EnvelopeKey:
    key: Bytes[ENVELOPE_KEY_BYTES]  # empty: none published
    version: uint256  # 1 for the first key, +1 per replacement
    set_at: uint256
    by: address

# --- events --------------------------------------------------------------------------------------------
event LetterCreated:
    auditor_tag: indexed(bytes32)  # party tags of this letter (see Parties), never a USCC or its hash
    bank_tag: indexed(bytes32)
    client_tag: indexed(bytes32)
    letter_id: bytes32
    auditor: address
    base_date: uint256
    items: uint256
    letter_format: uint8
    request_hash: bytes32
    request: Bytes[MAX_DOCUMENT_BYTES]  # sealed request document

event LetterAuthorised:
    letter_id: indexed(bytes32)
    by: indexed(address)
    authorised_at: uint256

event LetterAccepted:
    letter_id: indexed(bytes32)
    by: indexed(address)
    accepted_at: uint256
    due_day: uint256
    deadline: uint256

event LetterRejected:
    letter_id: indexed(bytes32)
    by: indexed(address)
    rejected_at: uint256
    reason: String[MAX_REASON]

event LetterReplied:
    letter_id: indexed(bytes32)
    by: indexed(address)
    replied_at: uint256
    reply_hash: bytes32
    covered_items: uint256
    exception_items: uint256
    paper_supplement: bool
    late: bool
    reply: Bytes[MAX_DOCUMENT_BYTES]  # sealed reply document

event LetterReceived:
    letter_id: indexed(bytes32)
    by: indexed(address)
    received_at: uint256

event LetterRecalled:
    letter_id: indexed(bytes32)
    by: indexed(address)
    recalled_at: uint256
    previous_status: uint8

event EnvelopeKeySet:
    organisation: String[18]
    by: indexed(address)
    key: Bytes[ENVELOPE_KEY_BYTES]
    version: uint256

# --- state ---------------------------------------------------------------------------------------------
governance: public(address)
initialized: public(bool)
letters: HashMap[bytes32, Letter]
letter_count: public(uint256)
envelope_keys: HashMap[String[18], EnvelopeKey]


@external
def initialize(governance: address):
    """
    @notice Genesis set-up, callable exactly once.
    """
    assert not self.initialized, "already initialized"
    assert governance != empty(address), "zero governance address"
    self.initialized = True
    self.governance = governance


# --- internal checks and derivations -------------------------------------------------------------------
@view
@internal
def _gov() -> Governance:
    return Governance(self.governance)


@view
@internal
def _org_of(account: address) -> String[18]:
    return staticcall self._gov().organisation_of(account)


@view
@internal
def _party_tag(letter_id: bytes32, party: uint8, uscc: String[18]) -> bytes32:
    # 22 + 32 + 20 + 32 + 1 + 18 bytes; callers pass an 18-character USCC (fixed width)
    return keccak256(
        concat(
            PARTY_TAG_DOMAIN,
            convert(chain.id, bytes32),
            convert(self, bytes20),
            letter_id,
            convert(party, bytes1),
            convert(uscc, Bytes[18]),
        )
    )


@view
@internal
def _is_party(account: address, letter_id: bytes32, party: uint8, tag: bytes32) -> bool:
    uscc: String[18] = self._org_of(account)
    return len(uscc) == USCC_LENGTH and self._party_tag(letter_id, party, uscc) == tag


@view
@internal
def _check_auditor(sender: address, letter_id: bytes32, auditor_tag: bytes32):
    assert staticcall self._gov().has_role(sender, AUDITOR, empty(bytes32)), "not an auditor"
    assert self._is_party(sender, letter_id, PARTY_AUDITOR, auditor_tag), "not the letter's audit firm"


@view
@internal
def _check_bank(sender: address, letter_id: bytes32, bank_tag: bytes32):
    assert staticcall self._gov().has_role(sender, BANK, empty(bytes32)), "not a bank"
    assert self._is_party(sender, letter_id, PARTY_BANK, bank_tag), "not the letter's bank"


@view
@internal
def _check_active_organisation(uscc: String[18], what: String[32]):
    record: OrganisationRecord = staticcall self._gov().organisations(uscc)
    assert record.registered, concat("unknown ", what)
    assert record.active, concat("inactive ", what)


@view
@internal
def _load(letter_id: bytes32) -> Letter:
    letter: Letter = self.letters[letter_id]
    assert letter.status != 0, "no such letter"
    return letter


@view
@internal
def _due_day(accepted_at: uint256) -> uint256:
    calendar: address = staticcall self._gov().contracts(CALENDAR_NAME)
    assert calendar != empty(address), "no calendar registered"
    receipt_day: uint256 = (accepted_at + UTC_OFFSET_SECONDS) // SECONDS_PER_DAY
    return staticcall Calendar(calendar).add_working_days(receipt_day, REPLY_WORKING_DAYS)


@pure
@internal
def _end_of_day(day: uint256) -> uint256:
    return (day + 1) * SECONDS_PER_DAY - UTC_OFFSET_SECONDS


@view
@internal
def _status_at(letter: Letter, timestamp: uint256) -> uint8:
    if letter.status == AWAITING_CLIENT_AUTH and timestamp >= letter.created_at + AUTHORISATION_WINDOW_SECONDS:
        return EXPIRED
    if letter.status == ACCEPTED and timestamp >= self._end_of_day(self._due_day(letter.accepted_at)):
        return OVERDUE
    return letter.status


# --- envelope key directory ----------------------------------------------------------------------------
@external
def set_envelope_key(key: Bytes[ENVELOPE_KEY_BYTES]):
    """
    @notice Publish the SM2 public key (64 bytes, x || y) that letters' documents are sealed to for the
            sender's organisation, replacing the one before. The sender holds BANK or AUDIT_ACCREDITOR.
            The SDK checks the key is a point of the curve before it publishes or seals to it.
    """
    gov: Governance = self._gov()
    assert (
        staticcall gov.has_role(msg.sender, BANK, empty(bytes32))
        or staticcall gov.has_role(msg.sender, AUDIT_ACCREDITOR, empty(bytes32))
    ), "only a bank or a finance regulator publishes an envelope key"
    assert len(key) == ENVELOPE_KEY_BYTES, "an envelope key is 64 bytes"
    uscc: String[18] = self._org_of(msg.sender)
    assert len(uscc) == USCC_LENGTH, "the sender has no organisation"
    version: uint256 = self.envelope_keys[uscc].version + 1
    self.envelope_keys[uscc] = EnvelopeKey(key=key, version=version, set_at=block.timestamp, by=msg.sender)
    log EnvelopeKeySet(organisation=uscc, by=msg.sender, key=key, version=version)


@view
@external
def envelope_key_of(uscc: String[18]) -> EnvelopeKey:
    """
    @notice The envelope key an organisation published (an empty key and version 0 when none).
    """
    return self.envelope_keys[uscc]


# --- views ---------------------------------------------------------------------------------------------
@view
@external
def get_letter(letter_id: bytes32) -> Letter:
    """
    @notice The stored letter (status 0 = no such letter); `status_at` adds the derived states. Its parties
            are tags (see Parties): compare them with `party_tag(letter_id, party, your USCC)`.
    """
    return self.letters[letter_id]


@view
@external
def party_tag(letter_id: bytes32, party: uint8, uscc: String[18]) -> bytes32:
    """
    @notice The tag by which letter `letter_id` names organisation `uscc` as its `party` (1 auditor, 2 bank,
            4 client), whether or not such a letter exists. Pure computation over the arguments, the chain id
            and this contract's address; reads no letter.
    """
    assert party == PARTY_AUDITOR or party == PARTY_BANK or party == PARTY_CLIENT, "unknown party"
    assert len(uscc) == USCC_LENGTH, "USCC must be 18 characters"
    return self._party_tag(letter_id, party, uscc)


@view
@external
def status_at(letter_id: bytes32, timestamp: uint256) -> uint8:
    """
    @notice The letter's status as of `timestamp` (unix seconds), given what is recorded now: OVERDUE and
            EXPIRED are derived from the due day and the authorisation window. 0 = no such letter.
    """
    letter: Letter = self.letters[letter_id]
    if letter.status == 0:
        return 0
    return self._status_at(letter, timestamp)


@view
@external
def status_of(letter_id: bytes32) -> uint8:
    """
    @notice The letter's status at the current block (0 = no such letter).
    """
    letter: Letter = self.letters[letter_id]
    if letter.status == 0:
        return 0
    return self._status_at(letter, block.timestamp)


@view
@external
def due_day_of(letter_id: bytes32) -> uint256:
    """
    @notice The reply's due day (China-time day number), 0 before the bank has accepted the letter.
            Computed from the Calendar each time, so a later-published holiday notice moves a due day that
            still lies in the future; days that have begun cannot change (Calendar rule).
    """
    letter: Letter = self.letters[letter_id]
    if letter.accepted_at == 0:
        return 0
    return self._due_day(letter.accepted_at)


@view
@external
def deadline_of(letter_id: bytes32) -> uint256:
    """
    @notice Unix time (seconds) at which the reply becomes overdue (end of the due day), 0 before acceptance.
    """
    letter: Letter = self.letters[letter_id]
    if letter.accepted_at == 0:
        return 0
    return self._end_of_day(self._due_day(letter.accepted_at))


# --- transitions ---------------------------------------------------------------------------------------
@external
def create(
    letter_id: bytes32,
    client_org: String[18],
    bank_org: String[18],
    base_date: uint256,
    items: uint256,
    letter_format: uint8,
    request_hash: bytes32,
    request: Bytes[MAX_DOCUMENT_BYTES],
):
    """
    @notice An audit firm's account (AUDITOR) creates a letter awaiting the audited company's authorisation.
            `letter_id` is chosen by the sender (random 32 bytes) so the sealed request can bind it.
            `client_org` and `bank_org` are checked here in clear and stored only as party tags (see
            Parties): this calldata is the only place on chain where they appear in clear.
    """
    assert staticcall self._gov().has_role(msg.sender, AUDITOR, empty(bytes32)), "not an auditor"
    assert letter_id != empty(bytes32), "empty letter id"
    assert self.letters[letter_id].status == 0, "letter id already used"
    auditor_org: String[18] = self._org_of(msg.sender)
    self._check_active_organisation(client_org, "audited company")
    self._check_active_organisation(bank_org, "bank")
    assert client_org != bank_org, "the bank cannot be the audited company"
    assert client_org != auditor_org, "the audit firm cannot audit itself"
    assert base_date > 0, "missing base date"
    assert base_date <= (block.timestamp + UTC_OFFSET_SECONDS) // SECONDS_PER_DAY, "base date in the future"
    assert items != 0 and items & ALL_ITEMS == items, "item set must be a non-empty subset of items 1-14"
    assert letter_format == 1 or letter_format == 2, "format must be 1 or 2"
    assert request_hash != empty(bytes32), "empty request hash"
    assert len(request) > 0, "empty request document"
    auditor_tag: bytes32 = self._party_tag(letter_id, PARTY_AUDITOR, auditor_org)
    client_tag: bytes32 = self._party_tag(letter_id, PARTY_CLIENT, client_org)
    bank_tag: bytes32 = self._party_tag(letter_id, PARTY_BANK, bank_org)
    self.letters[letter_id] = Letter(
        auditor=msg.sender,
        auditor_tag=auditor_tag,
        client_tag=client_tag,
        bank_tag=bank_tag,
        base_date=base_date,
        items=items,
        letter_format=letter_format,
        request_hash=request_hash,
        status=AWAITING_CLIENT_AUTH,
        created_at=block.timestamp,
        authorised_by=empty(address),
        authorised_at=0,
        bank_account=empty(address),
        accepted_at=0,
        reply_hash=empty(bytes32),
        replied_at=0,
        covered_items=0,
        exception_items=0,
        paper_supplement=False,
        replied_late=False,
        received_at=0,
        closed_at=0,
    )
    self.letter_count += 1
    log LetterCreated(
        auditor_tag=auditor_tag,
        bank_tag=bank_tag,
        client_tag=client_tag,
        letter_id=letter_id,
        auditor=msg.sender,
        base_date=base_date,
        items=items,
        letter_format=letter_format,
        request_hash=request_hash,
        request=request,
    )


@external
def authorise(letter_id: bytes32):
    """
    @notice An account of the audited company authorises the letter; it is then SENT to the bank.
    """
    letter: Letter = self._load(letter_id)
    assert staticcall self._gov().is_active_account(msg.sender), "inactive account"
    assert self._is_party(msg.sender, letter_id, PARTY_CLIENT, letter.client_tag), "not the audited company"
    assert letter.status == AWAITING_CLIENT_AUTH, "letter is not awaiting authorisation"
    assert block.timestamp < letter.created_at + AUTHORISATION_WINDOW_SECONDS, "authorisation window expired"
    self.letters[letter_id].status = SENT
    self.letters[letter_id].authorised_by = msg.sender
    self.letters[letter_id].authorised_at = block.timestamp
    log LetterAuthorised(letter_id=letter_id, by=msg.sender, authorised_at=block.timestamp)


@external
def accept(letter_id: bytes32):
    """
    @notice The bank accepts a conforming letter: its receipt time starts the 10-working-day reply period.
    """
    letter: Letter = self._load(letter_id)
    self._check_bank(msg.sender, letter_id, letter.bank_tag)
    assert letter.status == SENT, "letter is not awaiting the bank"
    due_day: uint256 = self._due_day(block.timestamp)
    self.letters[letter_id].status = ACCEPTED
    self.letters[letter_id].bank_account = msg.sender
    self.letters[letter_id].accepted_at = block.timestamp
    log LetterAccepted(
        letter_id=letter_id,
        by=msg.sender,
        accepted_at=block.timestamp,
        due_day=due_day,
        deadline=self._end_of_day(due_day),
    )


@external
def reject(letter_id: bytes32, reason: String[MAX_REASON]):
    """
    @notice The bank refuses a non-conforming letter (不予受理), e.g. base date not unique; the reason is public.
    """
    letter: Letter = self._load(letter_id)
    self._check_bank(msg.sender, letter_id, letter.bank_tag)
    assert letter.status == SENT, "letter is not awaiting the bank"
    assert len(reason) > 0, "a rejection needs a reason"
    self.letters[letter_id].status = REJECTED_NONCONFORMING
    self.letters[letter_id].bank_account = msg.sender
    self.letters[letter_id].closed_at = block.timestamp
    log LetterRejected(letter_id=letter_id, by=msg.sender, rejected_at=block.timestamp, reason=reason)


@external
def reply(
    letter_id: bytes32,
    reply_hash: bytes32,
    covered_items: uint256,
    exception_items: uint256,
    reply: Bytes[MAX_DOCUMENT_BYTES],
):
    """
    @notice The bank replies to an accepted letter (also when overdue: the reply is then marked late).
            `covered_items` are the requested items the digital reply answers; `exception_items` those whose
            answer differs from the auditor's figures (不符). Requested items 1-13 left uncovered mean a paper
            supplement is needed (财会〔2022〕39号).
    """
    letter: Letter = self._load(letter_id)
    self._check_bank(msg.sender, letter_id, letter.bank_tag)
    assert letter.status == ACCEPTED, "letter is not accepted"
    assert reply_hash != empty(bytes32), "empty reply hash"
    assert len(reply) > 0, "empty reply document"
    assert covered_items & letter.items == covered_items, "covered items must be requested items"
    assert exception_items & covered_items == exception_items, "exceptions must be covered items"
    paper: bool = (letter.items & DIGITAL_ITEMS) & ~covered_items != 0
    late: bool = block.timestamp >= self._end_of_day(self._due_day(letter.accepted_at))
    self.letters[letter_id].status = REPLIED
    self.letters[letter_id].reply_hash = reply_hash
    self.letters[letter_id].replied_at = block.timestamp
    self.letters[letter_id].covered_items = covered_items
    self.letters[letter_id].exception_items = exception_items
    self.letters[letter_id].paper_supplement = paper
    self.letters[letter_id].replied_late = late
    log LetterReplied(
        letter_id=letter_id,
        by=msg.sender,
        replied_at=block.timestamp,
        reply_hash=reply_hash,
        covered_items=covered_items,
        exception_items=exception_items,
        paper_supplement=paper,
        late=late,
        reply=reply,
    )


@external
def confirm_receipt(letter_id: bytes32):
    """
    @notice The audit firm records that it received the reply (an AUDITOR account of the sending firm).
    """
    letter: Letter = self._load(letter_id)
    self._check_auditor(msg.sender, letter_id, letter.auditor_tag)
    assert letter.status == REPLIED, "letter has no reply to receive"
    self.letters[letter_id].status = RECEIVED
    self.letters[letter_id].received_at = block.timestamp
    log LetterReceived(letter_id=letter_id, by=msg.sender, received_at=block.timestamp)


@external
def recall(letter_id: bytes32):
    """
    @notice The audit firm withdraws a letter before the bank starts processing it.
    """
    letter: Letter = self._load(letter_id)
    self._check_auditor(msg.sender, letter_id, letter.auditor_tag)
    assert letter.status != RECALLED, "letter already recalled"
    assert letter.status == AWAITING_CLIENT_AUTH or letter.status == SENT, "bank has started processing"
    self.letters[letter_id].status = RECALLED
    self.letters[letter_id].closed_at = block.timestamp
    log LetterRecalled(
        letter_id=letter_id, by=msg.sender, recalled_at=block.timestamp, previous_status=letter.status
    )
