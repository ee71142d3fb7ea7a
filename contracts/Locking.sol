// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SettlementBatch} from "./SettlementBatch.sol";

/// @title Locking
/// @notice L1 registry of seqset's sequencers and their locked stake. Every state
///         change the L2 chain must mirror emits an event carrying `eventNonce`, a
///         contract-wide counter that starts at 1 and grows by exactly 1 per event,
///         so the chain can apply events strictly in order and detect gaps.
///         The chain decides; L1 holds the tokens. Queued withdrawals become claimable,
///         locks are slashed and rewards credited only by `settle`, a batch signed by
///         signers holding more than 2/3 of the locked stake. The admin keeps the
///         whitelist and a pause, and can move no tokens.
/// @dev Owners, signers and consensus keys are never reused, even after an exit:
///      the chain keys sequencers by them and must never see two meanings for one.
///      The token must be a plain ERC-20 (no fee on transfer); `_pullTokens` checks.
///      Of the settlement events only `BatchSettled` carries `eventNonce`: the chain
///      mirrors it (the eighth nonce-carrying event) and marks the batch's items final.
///      The per-item events carry the batch nonce and are for L1 observers.
contract Locking is AccessControlDefaultAdminRules, ReentrancyGuard, Pausable, EIP712 {
    using SafeERC20 for IERC20;

    enum Status {
        None,
        Active,
        Unlocking,
        Exited
    }

    struct Sequencer {
        address owner;
        address signer;
        bytes32 consensusKey;
        uint256 amount; // locked wei, excluding what is queued for withdrawal
        Status status;
    }

    struct PendingWithdrawal {
        uint256 amount;
        uint64 releasableAt; // unix seconds: request time + delay, for display only
    }

    // Bounds the queue loops in `settle`, so a batch item always fits in a block.
    uint256 public constant MAX_PENDING_WITHDRAWALS = 32;
    uint64 public constant MAX_WITHDRAWAL_DELAY = 365 days;
    string public constant DOMAIN_NAME = "seqset Locking";
    string public constant DOMAIN_VERSION = "1";
    uint256 private constant STAKE_BITS = 192; // _signerStake packs id << 192 | amount

    IERC20 public immutable token;
    address public immutable slashSink; // burn or treasury address that receives slashed stake
    uint256 public minLock;
    uint256 public maxLock;
    uint64 public withdrawalDelay;

    uint64 public eventNonce; // the last nonce emitted; 0 before the first event
    uint64 public sequencerCount; // also the highest id: ids run 1..sequencerCount
    uint256 public totalLocked;
    uint256 public totalPending;
    uint256 public rewardPool;
    uint64 public lastBatchNonce; // the last settled batch; 0 before the first
    uint256 public totalClaimable; // released by settlement, not yet claimed
    uint256 public totalRewardsOwed; // credited by settlement, not yet paid

    mapping(address => bool) public whitelisted;
    mapping(uint64 => Sequencer) public sequencers;
    mapping(address => uint64) public sequencerOfOwner;
    mapping(address => uint64) public sequencerOfSigner; // current signers only
    mapping(bytes32 => uint64) public sequencerOfKey;
    mapping(address => bool) public signerUsed; // every signer ever set
    mapping(uint64 => PendingWithdrawal[]) private _pending;
    mapping(uint64 => uint256) private _pendingHead; // index of the oldest unreleased entry
    mapping(uint64 => uint256) public claimableOf; // released withdrawals awaiting claim
    mapping(uint64 => uint256) public rewardsOwed; // credited rewards awaiting claim
    // signer => id << 192 | locked amount: one storage read per signature in `settle`
    mapping(address => uint256) private _signerStake;

    event Locked(uint64 indexed eventNonce, uint64 indexed sequencerId, address owner, address signer, bytes32 consensusKey, uint256 amount);
    event LockIncreased(uint64 indexed eventNonce, uint64 indexed sequencerId, uint256 amount, uint256 newTotal);
    event SignerChanged(uint64 indexed eventNonce, uint64 indexed sequencerId, address oldSigner, address newSigner);
    event WithdrawalRequested(uint64 indexed eventNonce, uint64 indexed sequencerId, uint256 amount, uint256 remaining);
    event UnlockInitiated(uint64 indexed eventNonce, uint64 indexed sequencerId, uint256 amount);
    event Released(uint64 indexed eventNonce, uint64 indexed sequencerId, address to, uint256 amount);
    event RewardsClaimed(uint64 indexed eventNonce, uint64 indexed sequencerId, address to, uint256 amount);
    // sequencerId is always 0: a batch belongs to no one sequencer.
    event BatchSettled(uint64 indexed eventNonce, uint64 indexed sequencerId, uint256 batchNonce, bytes32 digest);

    // Settlement details, keyed by the batch nonce: the chain does not mirror these.
    event BatchStake(uint64 indexed batchNonce, uint256 signedStake, uint256 totalStake);
    event WithdrawalReleasable(uint64 indexed batchNonce, uint64 indexed sequencerId, uint256 amount);
    event Slashed(
        uint64 indexed batchNonce, uint64 indexed sequencerId, uint8 reason, uint256 fromLocked, uint256 fromPending
    );
    event RewardCredited(uint64 indexed batchNonce, uint64 indexed sequencerId, uint256 amount, uint256 owed);

    // Administrative events: the chain does not mirror these, so they carry no nonce.
    event WhitelistSet(address indexed owner, bool allowed);
    event LockRangeSet(uint256 minLock, uint256 maxLock);
    event WithdrawalDelaySet(uint64 withdrawalDelay);
    event RewardsFunded(address indexed from, uint256 amount, uint256 rewardPool);

    error NotWhitelisted(address owner);
    error OwnerHasSequencer(address owner, uint64 sequencerId);
    error AmountOutOfRange(uint256 amount, uint256 min, uint256 max);
    error ExceedsMaxLock(uint256 newTotal, uint256 max);
    error NotOwner(uint64 sequencerId, address caller);
    error UnknownSequencer(uint64 sequencerId);
    error SignerInUse(address signer);
    error KeyInUse(bytes32 consensusKey);
    error ZeroSigner();
    error ZeroKey();
    error ZeroAmount();
    error ZeroAddress();
    error WithdrawalExceedsLock(uint256 amount, uint256 locked);
    error BelowMinLock(uint256 remaining, uint256 minLock);
    error AlreadyUnlocking(uint64 sequencerId);
    error TooManyPendingWithdrawals(uint64 sequencerId, uint256 max);
    error NothingToClaim(uint64 sequencerId);
    error RewardPoolEmpty(uint64 sequencerId, uint256 owed);
    error BadBatchNonce(uint64 nonce, uint64 expected);
    error WrongDomain(uint256 chainId, address verifyingContract);
    error TooManyLockParams(uint256 count);
    error BadSignature(uint256 index);
    error UnknownSigner(uint256 index, address signer);
    error SignersNotAscending(uint256 index, address signer, address previous);
    error InsufficientSignedStake(uint256 signedStake, uint256 totalStake);
    error InvalidLockRange(uint256 min, uint256 max);
    error WithdrawalDelayTooLong(uint64 delay, uint64 max);
    error TransferAmountMismatch(uint256 expected, uint256 received);

    constructor(
        IERC20 token_,
        address admin,
        address slashSink_,
        uint256 minLock_,
        uint256 maxLock_,
        uint64 withdrawalDelay_
    ) AccessControlDefaultAdminRules(0, admin) EIP712(DOMAIN_NAME, DOMAIN_VERSION) {
        if (address(token_) == address(0) || slashSink_ == address(0)) revert ZeroAddress();
        token = token_;
        slashSink = slashSink_;
        _setLockRange(minLock_, maxLock_);
        _setWithdrawalDelay(withdrawalDelay_);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Allows or forbids `owner` to become a sequencer. Existing sequencers
    ///         are unaffected: removal only stops new locks.
    function setWhitelisted(address owner, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (owner == address(0)) revert ZeroAddress();
        whitelisted[owner] = allowed;
        emit WhitelistSet(owner, allowed);
    }

    /// @notice Stops new stake (lock, increaseLock) and settlement. Exit requests and
    ///         claims of what settlement already released stay open.
    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- owners

    /// @notice Makes the caller a new sequencer with `amount` wei locked.
    /// @return sequencerId the new id: 1 for the first sequencer, then strictly increasing.
    function lock(address signer, bytes32 consensusKey, uint256 amount)
        external
        nonReentrant
        whenNotPaused
        returns (uint64 sequencerId)
    {
        // Verify the caller may join and has not joined before
        if (!whitelisted[msg.sender]) revert NotWhitelisted(msg.sender);
        uint64 existing = sequencerOfOwner[msg.sender];
        if (existing != 0) revert OwnerHasSequencer(msg.sender, existing);
        // Verify the identities are set and fresh
        if (signer == address(0)) revert ZeroSigner();
        if (consensusKey == bytes32(0)) revert ZeroKey();
        if (signerUsed[signer]) revert SignerInUse(signer);
        if (sequencerOfKey[consensusKey] != 0) revert KeyInUse(consensusKey);
        // Verify the amount
        if (amount < minLock || amount > maxLock) revert AmountOutOfRange(amount, minLock, maxLock);

        sequencerId = ++sequencerCount;
        sequencers[sequencerId] = Sequencer(msg.sender, signer, consensusKey, amount, Status.Active);
        sequencerOfOwner[msg.sender] = sequencerId;
        sequencerOfSigner[signer] = sequencerId;
        sequencerOfKey[consensusKey] = sequencerId;
        signerUsed[signer] = true;
        totalLocked += amount;
        _syncSignerStake(sequencerId, sequencers[sequencerId]);
        emit Locked(_nextNonce(), sequencerId, msg.sender, signer, consensusKey, amount);
        _pullTokens(msg.sender, amount);
    }

    /// @notice Adds `amount` wei to an active sequencer's lock; the total stays <= maxLock.
    function increaseLock(uint64 sequencerId, uint256 amount) external nonReentrant whenNotPaused {
        Sequencer storage seq = _getActiveOwned(sequencerId);
        // Verify the amount
        if (amount == 0) revert ZeroAmount();
        uint256 newTotal = seq.amount + amount;
        if (newTotal > maxLock) revert ExceedsMaxLock(newTotal, maxLock);

        seq.amount = newTotal;
        totalLocked += amount;
        _syncSignerStake(sequencerId, seq);
        emit LockIncreased(_nextNonce(), sequencerId, amount, newTotal);
        _pullTokens(msg.sender, amount);
    }

    /// @notice Replaces an active sequencer's signer with one never used before.
    function changeSigner(uint64 sequencerId, address newSigner) external {
        Sequencer storage seq = _getActiveOwned(sequencerId);
        // Verify the new signer is set and fresh
        if (newSigner == address(0)) revert ZeroSigner();
        if (signerUsed[newSigner]) revert SignerInUse(newSigner);

        address oldSigner = seq.signer;
        seq.signer = newSigner;
        delete sequencerOfSigner[oldSigner];
        delete _signerStake[oldSigner];
        sequencerOfSigner[newSigner] = sequencerId;
        signerUsed[newSigner] = true;
        _syncSignerStake(sequencerId, seq);
        emit SignerChanged(_nextNonce(), sequencerId, oldSigner, newSigner);
    }

    /// @notice Queues a partial withdrawal; at least minLock must stay locked.
    function requestWithdrawal(uint64 sequencerId, uint256 amount) external {
        Sequencer storage seq = _getActiveOwned(sequencerId);
        // Verify the amount leaves at least minLock behind
        if (amount == 0) revert ZeroAmount();
        if (amount > seq.amount) revert WithdrawalExceedsLock(amount, seq.amount);
        uint256 remaining = seq.amount - amount;
        if (remaining < minLock) revert BelowMinLock(remaining, minLock);

        seq.amount = remaining;
        _syncSignerStake(sequencerId, seq);
        _queueWithdrawal(sequencerId, amount);
        emit WithdrawalRequested(_nextNonce(), sequencerId, amount, remaining);
    }

    /// @notice Starts a full exit: the whole remaining lock is queued for release,
    ///         and the sequencer can no longer increase, withdraw or change signer.
    function initiateUnlock(uint64 sequencerId) external {
        Sequencer storage seq = _getActiveOwned(sequencerId);
        uint256 amount = seq.amount;

        seq.amount = 0;
        seq.status = Status.Unlocking;
        _syncSignerStake(sequencerId, seq);
        _queueWithdrawal(sequencerId, amount);
        emit UnlockInitiated(_nextNonce(), sequencerId, amount);
    }

    /// @notice Pays the owner every amount that settlement has released.
    function claim(uint64 sequencerId) external nonReentrant {
        Sequencer storage seq = _getOwned(sequencerId);
        uint256 total = claimableOf[sequencerId];
        // Verify settlement released something
        if (total == 0) revert NothingToClaim(sequencerId);

        claimableOf[sequencerId] = 0;
        totalClaimable -= total;
        if (seq.status == Status.Unlocking && _pendingHead[sequencerId] == _pending[sequencerId].length) {
            seq.status = Status.Exited;
        }
        emit Released(_nextNonce(), sequencerId, seq.owner, total);
        token.safeTransfer(seq.owner, total);
    }

    // ---------------------------------------------------------------- rewards

    /// @notice Moves `amount` wei from the caller into the reward pool. Anyone may fund.
    function fundRewards(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        rewardPool += amount;
        emit RewardsFunded(msg.sender, amount, rewardPool);
        _pullTokens(msg.sender, amount);
    }

    /// @notice Pays the owner the rewards settlement credited, as far as the pool reaches;
    ///         the rest stays owed until the pool is funded again.
    function claimRewards(uint64 sequencerId) external nonReentrant {
        Sequencer storage seq = _getOwned(sequencerId);
        uint256 owed = rewardsOwed[sequencerId];
        // Verify something is owed and the pool can pay part of it
        if (owed == 0) revert NothingToClaim(sequencerId);
        uint256 amount = owed < rewardPool ? owed : rewardPool;
        if (amount == 0) revert RewardPoolEmpty(sequencerId, owed);

        rewardsOwed[sequencerId] = owed - amount;
        totalRewardsOwed -= amount;
        rewardPool -= amount;
        emit RewardsClaimed(_nextNonce(), sequencerId, seq.owner, amount);
        token.safeTransfer(seq.owner, amount);
    }

    // ---------------------------------------------------------------- settlement

    /// @notice Applies a batch the chain decided, once signers holding more than 2/3 of
    ///         the locked stake signed its EIP-712 digest. Anyone may submit it.
    /// @dev Items never revert: an amount larger than what L1 holds is capped, and an
    ///      item for an unknown sequencer is a no-op; the events carry what was applied.
    ///      Signatures past the 2/3 mark are not read.
    function settle(SettlementBatch.Batch calldata batch, SettlementBatch.Signature[] calldata signatures)
        external
        nonReentrant
        whenNotPaused
    {
        // Verify the batch is the next one, for this chain and this contract
        if (batch.nonce != lastBatchNonce + 1) revert BadBatchNonce(batch.nonce, lastBatchNonce + 1);
        if (batch.chainId != block.chainid || batch.verifyingContract != address(this)) {
            revert WrongDomain(batch.chainId, batch.verifyingContract);
        }
        if (batch.lockParams.length > 1) revert TooManyLockParams(batch.lockParams.length);
        // Verify the signers hold more than 2/3 of the stake
        bytes32 digest = _hashTypedDataV4(SettlementBatch.hash(batch));
        uint256 signedStake = _countSignedStake(digest, signatures);

        lastBatchNonce = batch.nonce;
        emit BatchSettled(_nextNonce(), 0, batch.nonce, digest);
        emit BatchStake(batch.nonce, signedStake, totalLocked);
        for (uint256 i = 0; i < batch.releases.length; i++) {
            _applyRelease(batch.nonce, batch.releases[i]);
        }
        uint256 slashed = 0;
        for (uint256 i = 0; i < batch.slashes.length; i++) {
            slashed += _applySlash(batch.nonce, batch.slashes[i]);
        }
        for (uint256 i = 0; i < batch.rewards.length; i++) {
            _applyReward(batch.nonce, batch.rewards[i]);
        }
        if (batch.lockParams.length == 1) _applyLockParams(batch.lockParams[0]);
        if (slashed > 0) token.safeTransfer(slashSink, slashed);
    }

    /// @notice The EIP-712 domain separator that settlement digests use.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice The digest that validators sign for `batch`.
    function batchDigest(SettlementBatch.Batch calldata batch) external view returns (bytes32) {
        return _hashTypedDataV4(SettlementBatch.hash(batch));
    }

    // ---------------------------------------------------------------- views

    /// @notice Every sequencer, ids 1..sequencerCount, as parallel arrays (for the genesis builder).
    function listSequencers()
        external
        view
        returns (
            uint64[] memory ids,
            address[] memory owners,
            address[] memory signers,
            bytes32[] memory keys,
            uint256[] memory amounts,
            Status[] memory statuses
        )
    {
        return listSequencersPage(1, sequencerCount);
    }

    /// @notice Up to `maxCount` sequencers starting at id `firstId`, as parallel arrays.
    function listSequencersPage(uint64 firstId, uint64 maxCount)
        public
        view
        returns (
            uint64[] memory ids,
            address[] memory owners,
            address[] memory signers,
            bytes32[] memory keys,
            uint256[] memory amounts,
            Status[] memory statuses
        )
    {
        uint256 n = _pageSize(firstId, maxCount);
        ids = new uint64[](n);
        owners = new address[](n);
        signers = new address[](n);
        keys = new bytes32[](n);
        amounts = new uint256[](n);
        statuses = new Status[](n);
        for (uint256 i = 0; i < n; i++) {
            uint64 id = firstId + uint64(i);
            Sequencer storage seq = sequencers[id];
            (ids[i], owners[i], signers[i]) = (id, seq.owner, seq.signer);
            (keys[i], amounts[i], statuses[i]) = (seq.consensusKey, seq.amount, seq.status);
        }
    }

    /// @notice The unpaid withdrawals of a sequencer, oldest first.
    function pendingWithdrawals(uint64 sequencerId)
        external
        view
        returns (uint256[] memory amounts, uint64[] memory releasableAt)
    {
        PendingWithdrawal[] storage queue = _pending[sequencerId];
        uint256 head = _pendingHead[sequencerId];
        uint256 n = queue.length - head;
        amounts = new uint256[](n);
        releasableAt = new uint64[](n);
        for (uint256 i = 0; i < n; i++) {
            (amounts[i], releasableAt[i]) = (queue[head + i].amount, queue[head + i].releasableAt);
        }
    }

    // ---------------------------------------------------------------- internals

    function _nextNonce() private returns (uint64) {
        return ++eventNonce;
    }

    function _getOwned(uint64 sequencerId) private view returns (Sequencer storage seq) {
        seq = sequencers[sequencerId];
        // Verify the sequencer exists and the caller owns it
        if (seq.status == Status.None) revert UnknownSequencer(sequencerId);
        if (seq.owner != msg.sender) revert NotOwner(sequencerId, msg.sender);
    }

    function _getActiveOwned(uint64 sequencerId) private view returns (Sequencer storage seq) {
        seq = _getOwned(sequencerId);
        // Verify no exit has started
        if (seq.status != Status.Active) revert AlreadyUnlocking(sequencerId);
    }

    /// @dev Moves `amount` from the lock to the queue. The caller has lowered `seq.amount`.
    function _queueWithdrawal(uint64 sequencerId, uint256 amount) private {
        PendingWithdrawal[] storage queue = _pending[sequencerId];
        if (queue.length - _pendingHead[sequencerId] >= MAX_PENDING_WITHDRAWALS) {
            revert TooManyPendingWithdrawals(sequencerId, MAX_PENDING_WITHDRAWALS);
        }
        queue.push(PendingWithdrawal(amount, uint64(block.timestamp) + withdrawalDelay));
        totalLocked -= amount;
        totalPending += amount;
    }

    function _syncSignerStake(uint64 sequencerId, Sequencer storage seq) private {
        _signerStake[seq.signer] = (uint256(sequencerId) << STAKE_BITS) | seq.amount;
    }

    /// @dev Sums the stake of strictly ascending signers until it passes 2/3 of totalLocked.
    function _countSignedStake(bytes32 digest, SettlementBatch.Signature[] calldata signatures)
        private
        view
        returns (uint256 signed)
    {
        uint256 total = totalLocked;
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; i++) {
            SettlementBatch.Signature calldata sig = signatures[i];
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, sig.v, sig.r, sig.s);
            if (err != ECDSA.RecoverError.NoError) revert BadSignature(i);
            uint256 packed = _signerStake[signer];
            if (packed == 0) revert UnknownSigner(i, signer);
            // Ascending order rules out a duplicate without a seen-set
            if (signer <= previous) revert SignersNotAscending(i, signer, previous);
            previous = signer;
            signed += packed & type(uint192).max;
            if (3 * signed > 2 * total) return signed;
        }
        revert InsufficientSignedStake(signed, total);
    }

    function _applyRelease(uint64 batchNonce, SettlementBatch.Release calldata item) private {
        uint64 id = item.sequencerId;
        PendingWithdrawal[] storage queue = _pending[id];
        uint256 head = _pendingHead[id];
        uint256 left = item.amount;
        // Oldest first: the chain releases withdrawals in request order
        while (left > 0 && head < queue.length) {
            uint256 entry = queue[head].amount;
            uint256 take = left < entry ? left : entry;
            queue[head].amount = entry - take;
            left -= take;
            if (take == entry) delete queue[head++];
        }
        _pendingHead[id] = head;
        uint256 applied = item.amount - left;
        totalPending -= applied;
        totalClaimable += applied;
        claimableOf[id] += applied;
        emit WithdrawalReleasable(batchNonce, id, applied);
    }

    /// @return burned the wei taken from this sequencer, for one transfer to the sink.
    function _applySlash(uint64 batchNonce, SettlementBatch.Slash calldata item) private returns (uint256 burned) {
        uint64 id = item.sequencerId;
        uint256 fromPending = _slashPending(id, item.fromPending);
        Sequencer storage seq = sequencers[id];
        uint256 fromLocked = item.fromLocked < seq.amount ? item.fromLocked : seq.amount;
        if (fromLocked > 0) {
            seq.amount -= fromLocked;
            totalLocked -= fromLocked;
            _syncSignerStake(id, seq);
        }
        // A full exit whose whole queue was slashed has nothing left to claim
        if (seq.status == Status.Unlocking && _pendingHead[id] == _pending[id].length && claimableOf[id] == 0) {
            seq.status = Status.Exited;
        }
        emit Slashed(batchNonce, id, item.reason, fromLocked, fromPending);
        return fromPending + fromLocked;
    }

    /// @dev Newest first: the entries still in their delay are the most recent ones.
    function _slashPending(uint64 id, uint256 amount) private returns (uint256 applied) {
        PendingWithdrawal[] storage queue = _pending[id];
        uint256 head = _pendingHead[id];
        uint256 left = amount;
        while (left > 0 && queue.length > head) {
            uint256 last = queue.length - 1;
            uint256 entry = queue[last].amount;
            uint256 take = left < entry ? left : entry;
            left -= take;
            if (take == entry) queue.pop();
            else queue[last].amount = entry - take;
        }
        applied = amount - left;
        totalPending -= applied;
    }

    function _applyReward(uint64 batchNonce, SettlementBatch.Reward calldata item) private {
        uint64 id = item.sequencerId;
        // An unknown sequencer could never claim, so nothing is owed to it
        uint256 amount = sequencers[id].status == Status.None ? 0 : item.amount;
        rewardsOwed[id] += amount;
        totalRewardsOwed += amount;
        emit RewardCredited(batchNonce, id, amount, rewardsOwed[id]);
    }

    function _applyLockParams(SettlementBatch.LockParams calldata params) private {
        _setLockRange(params.minLock, params.maxLock);
        _setWithdrawalDelay(params.withdrawalDelay);
    }

    function _pullTokens(address from, uint256 amount) private {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(from, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert TransferAmountMismatch(amount, received);
    }

    function _pageSize(uint64 firstId, uint64 maxCount) private view returns (uint256) {
        if (firstId == 0 || firstId > sequencerCount) return 0;
        uint256 available = uint256(sequencerCount) - firstId + 1;
        return maxCount < available ? maxCount : available;
    }

    function _setLockRange(uint256 min, uint256 max) private {
        if (min == 0 || min > max || max > type(uint192).max) revert InvalidLockRange(min, max);
        minLock = min;
        maxLock = max;
        emit LockRangeSet(min, max);
    }

    function _setWithdrawalDelay(uint64 delay) private {
        if (delay > MAX_WITHDRAWAL_DELAY) revert WithdrawalDelayTooLong(delay, MAX_WITHDRAWAL_DELAY);
        withdrawalDelay = delay;
        emit WithdrawalDelaySet(delay);
    }
}
