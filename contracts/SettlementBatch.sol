// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title SettlementBatch
/// @notice The settlement batch the chain's validators sign and `Locking.settle` enforces,
///         and its EIP-712 struct hash. abci_app/l1/settlement.py mirrors every type string
///         here byte for byte; a test checks that both compute the same digest.
library SettlementBatch {
    /// @dev Moves `amount` of the sequencer's queued withdrawals, oldest first, to claimable.
    struct Release {
        uint64 sequencerId;
        uint256 amount;
    }

    /// @dev Burns stake to the sink: `fromPending` from queued withdrawals (newest first),
    ///      then `fromLocked` from the lock. `reason` is the chain's code (1 downtime, 2 double sign,
    ///      3 missed production); the contract applies any code and only reports it.
    struct Slash {
        uint64 sequencerId;
        uint8 reason;
        uint256 fromLocked;
        uint256 fromPending;
    }

    /// @dev Credits `amount` of rewards, paid from the reward pool when the owner claims.
    struct Reward {
        uint64 sequencerId;
        uint256 amount;
    }

    /// @dev A parameter change decided by the chain; a batch carries at most one.
    struct LockParams {
        uint256 minLock;
        uint256 maxLock;
        uint64 withdrawalDelay;
    }

    struct Batch {
        uint64 nonce;
        uint256 chainId;
        address verifyingContract;
        Release[] releases;
        Slash[] slashes;
        Reward[] rewards;
        LockParams[] lockParams;
    }

    struct Signature {
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    // EIP-712 encodeType: the primary type, then the referenced types sorted by name.
    bytes32 internal constant BATCH_TYPEHASH = keccak256(
        "Batch(uint64 nonce,uint256 chainId,address verifyingContract,Release[] releases,"
        "Slash[] slashes,Reward[] rewards,LockParams[] lockParams)"
        "LockParams(uint256 minLock,uint256 maxLock,uint64 withdrawalDelay)"
        "Release(uint64 sequencerId,uint256 amount)"
        "Reward(uint64 sequencerId,uint256 amount)"
        "Slash(uint64 sequencerId,uint8 reason,uint256 fromLocked,uint256 fromPending)"
    );
    bytes32 internal constant LOCK_PARAMS_TYPEHASH =
        keccak256("LockParams(uint256 minLock,uint256 maxLock,uint64 withdrawalDelay)");
    bytes32 internal constant RELEASE_TYPEHASH = keccak256("Release(uint64 sequencerId,uint256 amount)");
    bytes32 internal constant REWARD_TYPEHASH = keccak256("Reward(uint64 sequencerId,uint256 amount)");
    bytes32 internal constant SLASH_TYPEHASH =
        keccak256("Slash(uint64 sequencerId,uint8 reason,uint256 fromLocked,uint256 fromPending)");

    /// @notice The EIP-712 hashStruct of a batch (the digest adds the domain separator).
    function hash(Batch calldata batch) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                BATCH_TYPEHASH,
                batch.nonce,
                batch.chainId,
                batch.verifyingContract,
                _hashReleases(batch.releases),
                _hashSlashes(batch.slashes),
                _hashRewards(batch.rewards),
                _hashLockParams(batch.lockParams)
            )
        );
    }

    function _hashReleases(Release[] calldata items) private pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](items.length);
        for (uint256 i = 0; i < items.length; i++) {
            hashes[i] = keccak256(abi.encode(RELEASE_TYPEHASH, items[i].sequencerId, items[i].amount));
        }
        return keccak256(abi.encodePacked(hashes));
    }

    function _hashSlashes(Slash[] calldata items) private pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](items.length);
        for (uint256 i = 0; i < items.length; i++) {
            Slash calldata item = items[i];
            hashes[i] = keccak256(
                abi.encode(SLASH_TYPEHASH, item.sequencerId, item.reason, item.fromLocked, item.fromPending)
            );
        }
        return keccak256(abi.encodePacked(hashes));
    }

    function _hashRewards(Reward[] calldata items) private pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](items.length);
        for (uint256 i = 0; i < items.length; i++) {
            hashes[i] = keccak256(abi.encode(REWARD_TYPEHASH, items[i].sequencerId, items[i].amount));
        }
        return keccak256(abi.encodePacked(hashes));
    }

    function _hashLockParams(LockParams[] calldata items) private pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](items.length);
        for (uint256 i = 0; i < items.length; i++) {
            LockParams calldata item = items[i];
            hashes[i] = keccak256(abi.encode(LOCK_PARAMS_TYPEHASH, item.minLock, item.maxLock, item.withdrawalDelay));
        }
        return keccak256(abi.encodePacked(hashes));
    }
}
